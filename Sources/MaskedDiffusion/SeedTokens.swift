import Engine

/// A per-position latent for the partition network's first step (an option of on-policy students,
/// `"seed_tokens"` in the recipe's `dmmd` section, `--seed-tokens` for the samplers).
///
/// Why: the positions one step reveals are drawn independently given its input, and at the first
/// step the input is only the BOS, so nothing lets two revealed neighbours agree. A noise scalar
/// shared by the row is one channel; this is a richer, local one (as the random-token
/// initialisation of one-step discrete generators): the first pass puts a uniformly random token at
/// every unknown position of its clean set, and the decoder, which queries those positions, reads
/// them through attention, so neighbouring queries read overlapping seeds and can agree.
///
/// Convention, shared by the student's training pass and every sampler so that the two agree:
/// - the seeded pass is the student's first step (only the prefix known; in training, rows at t = 1);
/// - each unknown position gets a token uniform over the vocabulary without the mask;
/// - the pass reads σ = `sigma` (−1: no noise draw U(0, N) gives it, and published models, which
///   read σ = 0, never see it), which tells the network that its clean set holds seeds.
/// Later steps run as without the option. The network and its export are unchanged; a sampler that
/// does not seed gives the seed-free (lower-quality) first step.
public enum SeedTokens {
  /// The conditioning input of a seeded pass.
  public static let sigma: Float = -1

  /// The first step's rows in training: those at t = 1.
  public static func isFirstStep(time t: Double) -> Bool { t >= 1 - 1e-9 }

  /// One seed token: uniform over the `vocabularySize` ids other than `mask`.
  public static func draw(vocabularySize v: Int, mask: Int, rng: inout RandomStream) -> Int32 {
    let u = rng.int(below: v - 1)
    return Int32(u >= mask ? u + 1 : u)
  }

  /// `tokens` [B, L] with a seed at every masked position of the rows in `rows`, row i's drawn from
  /// `streams[i]`; the mask elsewhere. For `PackedBatch.packing(_:mask:only:seeds:)`.
  public static func seeds(for tokens: TokenTensor, rows: Set<Int>, vocabularySize v: Int, mask: Int,
                           streams: inout [RandomStream]) -> TokenTensor {
    let b = tokens.shape[0], l = tokens.shape[1]
    precondition(streams.count == b, "\(streams.count) random streams for \(b) rows")
    var out = TokenTensor(shape: [b, l], repeating: Int32(mask))
    for i in 0..<b where rows.contains(i) {
      for j in 0..<l where tokens[i, j] == Int32(mask) { out[i, j] = draw(vocabularySize: v, mask: mask, rng: &streams[i]) }
    }
    return out
  }
}
