// The gold judge lives in src/gold/; this path re-exports it for existing importers.
export * from '../gold/index.js';
