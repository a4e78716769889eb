// nearest build / query / tune / info / verify: work on a collection. (Being written.)
import type { Command } from 'commander';

/** Registers `build`, `query`, `tune`, `info` and `verify`. */
export function registerCollectionCommands(_program: Command): void {}
