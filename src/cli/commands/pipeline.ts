// Placeholder until the issue that owns `qzhou pipeline` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'pipeline',
  summary: '(not built yet)',
  usage: 'qzhou pipeline: not built yet',
  async run() {
    console.error('qzhou pipeline: not built yet');
    return 2;
  },
};
