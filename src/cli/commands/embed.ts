// Placeholder until the issue that owns `qzhou embed` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'embed',
  summary: '(not built yet)',
  usage: 'qzhou embed: not built yet',
  async run() {
    console.error('qzhou embed: not built yet');
    return 2;
  },
};
