// The pad pool thread's first module when it runs from the TypeScript sources (pad-pool.ts picks it
// under tsx): worker threads do not inherit the parent's loader, so register tsx, then load the entry.
import { register } from 'tsx/esm/api';

register();
await import('./pad-pool-worker.ts');
