/** A mistake in what the user gave us (config file, flags): exit code 2, never blamed on the device. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A fault of the tool itself: exit code 2 / verdict HARNESS_ERROR, never blamed on the device. */
export class HarnessError extends Error {
  override name = 'HarnessError';
}
