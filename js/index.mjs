// index.mjs — the package entry: re-exports only.
export { Lifeline, Lifeline as default } from './lifeline.mjs';
