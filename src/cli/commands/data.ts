// Placeholder until the issue that owns `qzhou data` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'data',
  summary: '(not built yet)',
  usage: 'qzhou data: not built yet',
  async run() {
    console.error('qzhou data: not built yet');
    return 2;
  },
};
