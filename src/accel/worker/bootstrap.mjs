// Worker threads do not inherit the parent's TypeScript loader: register tsx, then load the entry.
import { register } from 'tsx/esm/api';

register();
await import('./entry.ts');
