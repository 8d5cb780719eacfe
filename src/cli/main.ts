// Entry point of `bin/codex-pooler`: runs the command line, then exits with its code once
// stdout and stderr are flushed (pooled connections must not keep a finished command alive).
import { runCli } from './cli.ts';

const flush = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write('', () => resolve()));

// A reader that stops early (`codex-pooler keys list | head -1`) closes the pipe: that ends the
// output, it is not a failure worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

let code: number;
try {
  code = await runCli(process.argv.slice(2));
} catch (error) {
  const { errorLine } = await import('./errors.ts');
  process.stderr.write(errorLine(error));
  code = 1;
}
await Promise.all([flush(process.stdout), flush(process.stderr)]);
process.exit(code);
