// Placeholder until the issue that owns `qzhou synth` lands; replaced by the real command.
import type { Command } from '../command.js';

export const command: Command = {
  name: 'synth',
  summary: '(not built yet)',
  usage: 'qzhou synth: not built yet',
  async run() {
    console.error('qzhou synth: not built yet');
    return 2;
  },
};
