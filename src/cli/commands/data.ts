// nearest import / export: vector files in, collections out. (Being written.)
import type { Command } from 'commander';

/** Registers `import` and `export`. */
export function registerDataCommands(_program: Command): void {}
