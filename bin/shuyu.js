#!/usr/bin/env node
// The `shuyu` command: loads the TypeScript CLI through tsx's loader, so no build step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../client-sdk/cli/main.ts');
