import { defineConfig } from './harness/config/define-config.ts';

// The default run: the built-in simulator (the reference device) with two block members, every
// requirement of the seed-v2 profile. Copy this file next to your device's config and change
// `transport` to point at a card (vfio) or a software model (vfio-user).
export default defineConfig({
  transport: {
    kind: 'simulator',
    devices: [{ type: 'block' }, { type: 'block' }],
  },
  profile: 'seed-v2',
  seed: 1,
  timeouts: { commandMs: 2000, testMs: 30000, runMs: 600000 },
  outDir: 'vmcts-out',
});
