// Placeholder until the issue that owns `qzhou eval` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'eval',
  summary: '(not built yet)',
  usage: 'qzhou eval: not built yet',
  async run() {
    console.error('qzhou eval: not built yet');
    return 2;
  },
};
