#!/usr/bin/env node
// jailsftpd: the entry point (package.json's bin, dist/server/cli.js); the commands are in cli/.
import './threadpool.js';
import { runCli } from './cli/main.js';

runCli(process.argv.slice(2));
