// Entry point of the `qzhou` command: dispatches to one module per subcommand.
import { UsageError, type Command } from './command.js';

// Lazy so that `qzhou serve` does not load the trainer, and so on.
const commands: Record<string, () => Promise<{ command: Command }>> = {
  embed: () => import('./commands/embed.js'),
  data: () => import('./commands/data.js'),
  eval: () => import('./commands/eval.js'),
  train: () => import('./commands/train.js'),
  synth: () => import('./commands/synth.js'),
  mine: () => import('./commands/mine.js'),
  serve: () => import('./commands/serve.js'),
  pipeline: () => import('./commands/pipeline.js'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const lines = ['usage: qzhou <command> [options]', '', 'commands:'];
    for (const [n, load] of Object.entries(commands)) {
      const { command } = await load();
      lines.push(`  ${n.padEnd(10)} ${command.summary}`);
    }
    lines.push('', 'Run `qzhou <command> --help` for the options of one command.');
    console.log(lines.join('\n'));
    return name ? 0 : 2;
  }
  if (name === '--version') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    console.log(pkg.version);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`qzhou: unknown command "${name}". Commands: ${Object.keys(commands).join(', ')}`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    // `qzhou data transform --help` shows the subcommand's options, `qzhou data --help` the command's.
    const sub = rest[0] !== undefined && !rest[0].startsWith('-') ? command.subcommandUsage?.[rest[0]] : undefined;
    console.log(sub ?? command.usage);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`qzhou: ${err.message}`);
      process.exitCode = 2;
    } else {
      const e = err as Error;
      console.error(`qzhou: ${e?.message ?? String(err)}`);
      if (process.env.QZHOU_DEBUG) console.error(e?.stack);
      process.exitCode = 1;
    }
  },
);
