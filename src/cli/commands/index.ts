// Every subcommand, in the order `--help` lists them.
import type { Command } from '../command.js';
import { actorCommand } from './actor.js';
import { backendCommand } from './backend.js';
import { clusterCommand } from './cluster.js';
import { configCommand } from './config.js';
import { dataCommand } from './data.js';
import { experimentCommand } from './experiment.js';
import { exportCommand } from './export.js';
import { generateCommand } from './generate.js';
import { monitorCommand } from './monitor.js';
import { natsConfigCommand } from './nats_config.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';
import { sftCommand } from './sft.js';
import { trainRmCommand } from './train_rm.js';

export const COMMANDS: Command[] = [configCommand, backendCommand, dataCommand, monitorCommand, sftCommand, trainRmCommand, runCommand, replayCommand, generateCommand, exportCommand, experimentCommand, clusterCommand, actorCommand, natsConfigCommand];
