import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function qzhou(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('`qzhou data <sub> --help` prints that subcommand\'s options, `qzhou data --help` all of them', () => {
  const transform = qzhou('data', 'transform', '--help');
  assert.equal(transform.code, 0, transform.stderr);
  assert.match(transform.stdout, /^usage: qzhou data transform /);
  assert.doesNotMatch(transform.stdout, /usage: qzhou data inspect/);
  const inspect = qzhou('data', 'inspect', '-h');
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /^usage: qzhou data inspect /);
  assert.doesNotMatch(inspect.stdout, /--decontaminate/);
  const all = qzhou('data', '--help');
  assert.equal(all.code, 0);
  assert.match(all.stdout, /^usage: qzhou data <transform\|inspect>/);
  assert.match(all.stdout, /usage: qzhou data transform /);
  assert.match(all.stdout, /usage: qzhou data inspect /);
});
