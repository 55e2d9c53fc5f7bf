/** Graceful shutdown of the CLI's servers: the first SIGTERM or SIGINT stops the server, a second exits at once. */
export function onSignals(log: (line: string) => void, stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const handle = (signal: string): void => {
      if (stopping) {
        log(`${signal} again: exiting now`);
        process.exit(1);
      }
      stopping = true;
      log(`${signal}: shutting down`);
      void stop().then(resolve, resolve);
    };
    process.on('SIGTERM', () => handle('SIGTERM'));
    process.on('SIGINT', () => handle('SIGINT'));
  });
}
