// Placeholder until the issue that owns `qzhou mine` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'mine',
  summary: '(not built yet)',
  usage: 'qzhou mine: not built yet',
  async run() {
    console.error('qzhou mine: not built yet');
    return 2;
  },
};
