import Engine
import MaskedDiffusion
import Networks

/// Sampling from a partition network with the reference's "efficient" samplers (SPEC §5).
///
/// Every row keeps a clean set — its prefix, then the tokens revealed so far — and a random order
/// of its unknown positions. A step reveals the next few positions of that order with one
/// inference-mode pass: the encoder runs over the clean set only (packed, each token at its own
/// position), the decoder only at the positions revealed in this step, so the cost follows the
/// clean and query counts, never L. The noise schedule's time grid is not used, except for the
/// non-uniform schedule's reveal probability.
public struct PartitionSampler: Sampler {
  public let network: PartitionDIT
  public var config: ModelConfig { network.config }

  /// Without a noise input, c and the adaLN modulations are computed once per batch
  /// (`PartitionDIT.FrozenConditioning`); false computes them at every pass for every row, as with
  /// noise (tests compare the two).
  var freezesConditioning = true

  public init(network: PartitionDIT) { self.network = network }

  public func generate(prefixes: [[Int32]], steps: Int, rng: inout RandomStream, options: SamplingOptions,
                       progress: ((Int) -> Void)?) throws -> SamplingRun {
    try generate(prefixes: prefixes, steps: steps, rng: &rng, options: options, progress: progress, observe: nil)
  }

  /// `generate` that also shows every pass to `observe` (the benchmark times them).
  func generate(prefixes: [[Int32]], steps: Int, rng: inout RandomStream, options: SamplingOptions,
                progress: ((Int) -> Void)?, observe: ((Pass) -> Void)?) throws -> SamplingRun {
    if options.schedule == .uniform && steps >= 1 && config.length % steps != 0 {
      throw SamplingError.stepsDoNotDivideLength(length: config.length, steps: steps)
    }
    return try runInBatches(prefixes: prefixes, steps: steps, rng: &rng, options: options, config: config,
                            progress: progress) { batch, streams in
      sampleBatch(prefixes: batch, streams: &streams, steps: steps, options: options, observe: observe)
    }
  }

  /// One inference pass as the tests see it: the step (S for the non-uniform leftovers pass), the
  /// packed input, how many queries of each row are real (the rest is padding), each row's noise
  /// input σ (nil without noise: 0) and the raw logits [B, Lq, V] the draws read. Steps where every
  /// row reveals nothing run no pass.
  struct Pass {
    let step: Int
    let packed: PackedBatch
    let counts: [Int]
    let sigma: [Float]?
    let logits: Tensor
  }

  /// Samples one batch (prefixes already validated; `streams` holds one stream per row).
  func sampleBatch(prefixes: [[Int32]], streams: inout [RandomStream], steps: Int, options: SamplingOptions,
                   observe: ((Pass) -> Void)? = nil) -> BatchOutcome {
    let b = prefixes.count, l = config.length, v = config.vocabSize
    var outcome = BatchOutcome(samples: prefixes.map { $0 + [Int32](repeating: Int32(config.maskIndex), count: l - $0.count) })
    // Each row's unknown positions in reveal order (the reference: argsort of uniforms, i.e. a
    // uniformly random permutation). With the confidence order the list is the row's unknown set,
    // and each step moves the positions it reveals to the front.
    var orders: [[Int32]] = (0..<b).map { r in
      let k = prefixes[r].count
      return streams[r].permutation(l - k).map { Int32(k + $0) }
    }
    var revealed = [Int](repeating: 0, count: b)
    var packer = CleanSetPacker(prefixes: prefixes, length: l)
    let drawer = TokenDrawer(vocabularySize: v, maskIndex: config.maskIndex, topP: options.topP,
                             temperature: options.temperature, nucleusSeesMaskLogit: true)
    // Without a noise input σ = 0 at every pass: c and the adaLN modulations are computed once for
    // the whole batch. With noise each row's σ is drawn per pass and they are computed per row.
    let conditioning = options.noise > 0 || !freezesConditioning ? nil : network.frozenConditioning()
    // The weights do not change during the batch: every linear layer runs on panels packed once.
    let weights = network.packedWeights()

    /// One step: row r reveals counts[r] of its unknown positions (nothing when all are 0).
    func reveal(step: Int, _ counts: [Int]) {
      guard counts.contains(where: { $0 > 0 }) else { return }
      // Random order: query the next counts[r] positions. Confidence: query every unknown one.
      let queried = (0..<b).map { r in counts[r] == 0 ? 0 : (options.order == .random ? counts[r] : orders[r].count - revealed[r]) }
      let lq = queried.max()!
      var packed = packer.batch(queries: { r in orders[r][revealed[r]..<(revealed[r] + queried[r])] }, width: lq)
      var sigma: [Float]? = options.noise > 0
        ? (0..<b).map { Float(streams[$0].uniformDouble() * options.noise) } : nil
      let seeded = options.seedTokens ? (0..<b).filter { revealed[$0] == 0 && counts[$0] > 0 } : []
      if !seeded.isEmpty {
        // A row's first pass: its unknown positions join the clean set with seed tokens (SeedTokens).
        var seeds = TokenTensor(shape: [b, l], repeating: Int32(config.maskIndex))
        var s = sigma ?? [Float](repeating: 0, count: b)
        for r in seeded {
          for p in prefixes[r].count..<l { seeds[r, p] = SeedTokens.draw(vocabularySize: v, mask: config.maskIndex, rng: &streams[r]) }
          s[r] = SeedTokens.sigma
        }
        packed = PackedBatch.packing(TokenTensor(shape: [b, l], values: outcome.samples.flatMap { $0 }),
                                     mask: Int32(config.maskIndex),
                                     only: (0..<b).map { r in orders[r][revealed[r]..<(revealed[r] + queried[r])].map(Int.init) },
                                     seeds: seeds).batch
        sigma = s
      }
      let g = Graph(recording: false)
      g.packedWeights = weights
      let logits = network.logits(g, packed: packed, sigma: sigma, conditioning: conditioning).value
      outcome.passes += 1
      outcome.flops += FlopCount.partitionInference(config, batch: b, clean: packed.tokens.shape[1], queries: lq)
      observe?(Pass(step: step, packed: packed, counts: counts, sigma: sigma, logits: logits))
      for r in 0..<b where counts[r] > 0 {
        let finalReveal = revealed[r] + counts[r] == orders[r].count
        let greedy = options.greedyTail && finalReveal
        var drawn: [(token: Int32, logProb: Float, slot: Int)] = []
        drawn.reserveCapacity(queried[r])
        for j in 0..<queried[r] {
          let d = drawer.drawWithLogProbability(logits, row: r * lq + j, greedy: greedy, rng: &streams[r])
          drawn.append((d.token, d.logProbability, j))
        }
        if queried[r] > counts[r] {
          // The most confident draws (ties: the earlier slot), moved to the front of the unknown list.
          let keep = drawn.sorted { $0.logProb > $1.logProb || ($0.logProb == $1.logProb && $0.slot < $1.slot) }
            .prefix(counts[r]).map(\.slot).sorted()
          let base = revealed[r]
          let chosen = Set(keep)
          let reordered = keep.map { orders[r][base + $0] }
            + (0..<queried[r]).filter { !chosen.contains($0) }.map { orders[r][base + $0] }
          orders[r].replaceSubrange(base..<(base + queried[r]), with: reordered)
          drawn = keep.map { drawn[$0] }
        }
        for (j, d) in drawn.enumerated() {
          let position = orders[r][revealed[r] + j]
          outcome.samples[r][Int(position)] = d.token
          packer.append(row: r, token: d.token, position: position)
        }
        revealed[r] += counts[r]
      }
    }

    switch options.schedule {
    case .uniform:
      for i in 0..<steps {
        reveal(step: i, (0..<b).map { r in RevealCounts.uniform(step: i, steps: steps, unknown: orders[r].count) })
      }
    case .nonUniform:
      let p = RevealCounts.nonUniformProbability(steps: steps)
      for i in 0..<steps {
        reveal(step: i, (0..<b).map { r in
          let left = orders[r].count - revealed[r]
          return left == 0 ? 0 : min(streams[r].binomial(l, p), left)
        })
      }
      reveal(step: steps, (0..<b).map { orders[$0].count - revealed[$0] })
    }
    return outcome
  }
}

/// How many positions a row reveals per step.
enum RevealCounts {
  /// Uniform: the m unknown positions spread over S steps as ⌈(i+1)m/S⌉ − ⌈im/S⌉. Without a
  /// prefix (m = L − 1, S | L) that is L/S at every step and L/S − 1 at the last, exactly the
  /// reference's counts; with a longer prefix the same rule spreads the remaining positions evenly.
  static func uniform(step i: Int, steps: Int, unknown m: Int) -> Int {
    func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
    return ceilDiv((i + 1) * m, steps) - ceilDiv(i * m, steps)
  }

  /// Non-uniform: the reveal probability of the first step, (α_s − α_t)/(1 − α_t) at t = 1,
  /// s = 1 − dt (= dt for the log-linear schedule), used at every step as in the reference.
  static func nonUniformProbability(steps: Int) -> Double {
    let dt = DiffusionTime.samplingStep(steps: steps)
    let at = LogLinearSchedule.alpha(1), as_ = LogLinearSchedule.alpha(1 - dt)
    return (as_ - at) / (1 - at)
  }
}

/// The clean sets of a batch — tokens and their positions, each row in reveal order — grown
/// one token at a time and packed into right-padded `PackedBatch`es. The packed arrays are kept
/// between passes, so a pass costs one copy of the clean set and no allocation.
struct CleanSetPacker {
  private var tokens: [[Int32]]
  private var positions: [[Int32]]
  private var packedTokens: [Int32] = []
  private var packedPositions: [Int32] = []
  private var packedQueries: [Int32] = []

  init(prefixes: [[Int32]], length: Int) {
    tokens = prefixes.map { p in var row = p; row.reserveCapacity(length); return row }
    positions = prefixes.map { p in var row = (0..<p.count).map(Int32.init); row.reserveCapacity(length); return row }
    packedTokens.reserveCapacity(prefixes.count * length)
    packedPositions.reserveCapacity(prefixes.count * length)
    packedQueries.reserveCapacity(prefixes.count * length)
  }

  mutating func append(row r: Int, token: Int32, position: Int32) {
    tokens[r].append(token)
    positions[r].append(position)
  }

  /// The packed clean sets (width = the largest), with `queries(r)` padded to `width` per row.
  /// Padding entries hold token 0 at position 0; the network masks padded keys and the caller
  /// ignores padded queries.
  mutating func batch<Q: Collection<Int32>>(queries: (Int) -> Q, width: Int) -> PackedBatch {
    let b = tokens.count
    let lc = tokens.map(\.count).max() ?? 0
    packedTokens.removeAll(keepingCapacity: true)
    packedPositions.removeAll(keepingCapacity: true)
    packedQueries.removeAll(keepingCapacity: true)
    for r in 0..<b {
      let pad = lc - tokens[r].count
      packedTokens += tokens[r]
      packedPositions += positions[r]
      if pad > 0 {
        packedTokens += repeatElement(0, count: pad)
        packedPositions += repeatElement(0, count: pad)
      }
      let q = queries(r)
      packedQueries += q
      if q.count < width { packedQueries += repeatElement(0, count: width - q.count) }
    }
    return PackedBatch(tokens: TokenTensor(shape: [b, lc], values: packedTokens),
                       positions: TokenTensor(shape: [b, lc], values: packedPositions),
                       lengths: tokens.map(\.count),
                       queryPositions: TokenTensor(shape: [b, width], values: packedQueries))
  }
}
