#!/usr/bin/env node
// Launcher: the tool is written in TypeScript and run through tsx's loader, so a clean
// clone works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../harness/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
