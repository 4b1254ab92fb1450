// The error of the compute layer (weights that do not fit a model, bad inputs to a forward), shared by its files.
export class ComputeError extends Error {
  override name = 'ComputeError';
}
