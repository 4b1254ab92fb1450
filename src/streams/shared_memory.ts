// Weight bytes held once per process: a SharedArrayBuffer that every worker thread of the process reads without a copy.
// Posting a Uint8Array over a SharedArrayBuffer to a worker (postMessage, a piscina task) shares the memory instead of
// cloning it, so the base a run starts from and each published version exist once in the process however many threads
// load them. Such bytes are immutable by convention: they are written once, before anyone else sees them, and never again.

/** Whether the bytes live in shared memory (handing them to another thread shares, not copies). */
export function isShared(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof SharedArrayBuffer;
}

/** The bytes copied once into a fresh SharedArrayBuffer of their exact length (already shared bytes are returned as they are). */
export function sharedBytes(bytes: Uint8Array): Uint8Array {
  return isShared(bytes) ? bytes : sharedCopy(bytes);
}

/** The bytes always copied into a fresh SharedArrayBuffer: a copy the caller can no longer change, however it reuses its own. */
export function sharedCopy(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}
