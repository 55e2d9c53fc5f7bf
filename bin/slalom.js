#!/usr/bin/env node
// The published entry point: loads the TypeScript sources through tsx (a runtime dependency),
// so `npx slalom` works in a checkout with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
