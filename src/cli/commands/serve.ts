// Placeholder until the issue that owns `qzhou serve` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'serve',
  summary: '(not built yet)',
  usage: 'qzhou serve: not built yet',
  async run() {
    console.error('qzhou serve: not built yet');
    return 2;
  },
};
