/**
 * Every image `build --images all` builds, in order. Append a recipe here to register it (one import + one
 * list entry); names must be unique.
 */
import type { ImageRecipe } from '../lib/index.ts';
import { baseRecipe } from './base.ts';
import { agentChat } from './agent-chat.ts';
import { agentCoding } from './agent-coding.ts';
import { agentBrowser } from './agent-browser.ts';

export const recipes: ImageRecipe[] = [
  baseRecipe,
  agentChat,
  agentCoding,
  agentBrowser,
];
