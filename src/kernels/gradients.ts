// Registers tfjs's gradient functions: the Node build of tfjs-core ships none, and every trainable kernel needs them.
//
// The gradient configs live only in tfjs-core's extension-less ESM sources (not loadable by Node) and in the
// bundle of the `@tensorflow/tfjs` union package, which registers them, on import, into the registry that
// tfjs-core keeps on the global object. Import this module for its side effect wherever gradients are taken.
import '@tensorflow/tfjs';
