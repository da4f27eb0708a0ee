/** The error classes live in protocol/ (spec/ and transports/ throw them too); harness code imports them from here. */
export { ConfigError, HarnessError } from '../protocol/errors.ts';
