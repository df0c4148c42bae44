// Placeholder until the issue that owns `qzhou train` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'train',
  summary: '(not built yet)',
  usage: 'qzhou train: not built yet',
  async run() {
    console.error('qzhou train: not built yet');
    return 2;
  },
};
