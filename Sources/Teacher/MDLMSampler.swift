import Engine
import MaskedDiffusion
import Networks

/// MDLM ancestral sampling (SPEC §5) on the full-sequence network.
///
/// Times follow `linspace(1, 1e-5, S+1)` with step dt = (1 − 1e-5)/S: at the step from t to
/// s = t − dt every still-masked position is unmasked with probability (α_s − α_t)/(1 − α_t)
/// (one float64 uniform per position) to a draw from p(x0); a final step at t = 1e-5 with α_s = 1
/// unmasks whatever is left (the argmax with `greedyTail`, as the SDTT code's sampler).
///
/// Two differences from the reference that change the cost, not the distribution:
/// - The reference keeps its prediction while no row of the batch changed (`ddpm_cache`) and
///   otherwise runs the network at every step, unmasking or not. Which positions a step unmasks
///   does not depend on the prediction, so here they are chosen first and the network runs only
///   when some position is about to be unmasked — on the same input the reference would use, so
///   the same prediction, with at most as many passes (a step that unmasks nothing costs nothing,
///   including the final step when nothing is left).
/// - The reference draws a token for all L positions at every step (an [L, V] float64 Gumbel
///   sample) and keeps those at unmasked positions; here only the unmasked positions get a
///   log-softmax and a draw. Same distribution; the honest comparison with the partition sampler.
///
/// Nucleus filtering, which the reference offers only for partition passes, is applied here after
/// the mask logit is removed: the MDLM reference adds −1e6 to that logit before anything else, so
/// its nucleus is over real tokens only.
public struct MDLMSampler: Sampler {
  public let network: DIT
  public var config: ModelConfig { network.config }

  public init(network: DIT) throws {
    guard network.config.kind == .mdlm else {
      throw SamplingError.unsupportedNetwork("MDLM sampling needs an MDLM network, got kind '\(network.config.kind.rawValue)'")
    }
    self.network = network
  }

  public func generate(prefixes: [[Int32]], steps: Int, rng: inout RandomStream, options: SamplingOptions,
                       progress: ((Int) -> Void)?) throws -> SamplingRun {
    guard !options.seedTokens else {
      throw SamplingError.unsupportedNetwork("seed tokens are a partition-network input (its encoder reads them beside the clean set); "
                                             + "an MDLM network has no such input")
    }
    return try runInBatches(prefixes: prefixes, steps: steps, rng: &rng, options: options, config: config,
                     progress: progress) { batch, streams in
      sampleBatch(prefixes: batch, streams: &streams, steps: steps, options: options)
    }
  }

  /// One step as the tests see it: the unmasking probability, how many positions of the batch
  /// were masked before it, which ones it unmasked (per row), and whether it ran the network.
  struct Step {
    let index: Int
    let probability: Double
    let maskedBefore: Int
    let unmaskedPositions: [[Int32]]
    let ranNetwork: Bool
    var unmasked: Int { unmaskedPositions.reduce(0) { $0 + $1.count } }
  }

  /// Samples one batch (prefixes already validated; `streams` holds one stream per row).
  /// `eps` is the last time of the grid (the reference's default 1e-5; tests move it to leave
  /// work for the final step).
  func sampleBatch(prefixes: [[Int32]], streams: inout [RandomStream], steps: Int, options: SamplingOptions,
                   eps: Double = DiffusionTime.samplingEnd, observe: ((Step) -> Void)? = nil) -> BatchOutcome {
    let b = prefixes.count, l = config.length, v = config.vocabSize
    let mask = Int32(config.maskIndex)
    // The all-mask sequence with each prefix clamped. Prefix positions are never masked, so no
    // step can change them and the clamp holds after every step without being re-applied.
    var x = [Int32](repeating: mask, count: b * l)
    for r in 0..<b { for (i, token) in prefixes[r].enumerated() { x[r * l + i] = token } }
    var masked: [[Int32]] = prefixes.map { p in (p.count..<l).map(Int32.init) }
    var chosen: [[Int32]] = prefixes.map { _ in var row: [Int32] = []; row.reserveCapacity(l); return row }
    var outcome = BatchOutcome(samples: [])
    let drawer = TokenDrawer(vocabularySize: v, maskIndex: config.maskIndex, topP: options.topP,
                             temperature: options.temperature, nucleusSeesMaskLogit: false)
    // The weights do not change during the batch: every linear layer runs on panels packed once.
    let weights = network.packedWeights()

    /// One step from t to a time with α = alphaS.
    func step(_ index: Int, t: Double, alphaS: Double, greedy: Bool) {
      let alphaT = LogLinearSchedule.alpha(t)
      let q = (alphaS - alphaT) / (1 - alphaT)
      var maskedBefore = 0, unmasked = 0
      for r in 0..<b {
        maskedBefore += masked[r].count
        chosen[r].removeAll(keepingCapacity: true)
        var kept = 0
        for i in 0..<masked[r].count {
          let position = masked[r][i]
          if streams[r].uniformDouble() < q {
            chosen[r].append(position)
          } else {
            masked[r][kept] = position
            kept += 1
          }
        }
        masked[r].removeLast(masked[r].count - kept)
        unmasked += chosen[r].count
      }
      if unmasked > 0 {
        let sigma: [Float]? = options.noise > 0 ? (0..<b).map { Float(streams[$0].uniformDouble() * options.noise) } : nil
        let g = Graph(recording: false)
        g.packedWeights = weights
        let logits = network.logits(g, tokens: TokenTensor(shape: [b, l], values: x), sigma: sigma).value
        outcome.passes += 1
        outcome.flops += FlopCount.dit(config, batch: b, length: l)
        for r in 0..<b where !chosen[r].isEmpty {
          if options.order == .confidence {
            // The step keeps its count but reveals the positions of the most confident draws.
            let candidates = (chosen[r] + masked[r]).sorted()
            let draws = candidates.map { p in drawer.drawWithLogProbability(logits, row: r * l + Int(p), greedy: greedy, rng: &streams[r]) }
            let keep = candidates.indices.sorted { draws[$0].logProbability > draws[$1].logProbability
              || (draws[$0].logProbability == draws[$1].logProbability && $0 < $1) }.prefix(chosen[r].count)
            let kept = Set(keep)
            for i in keep { x[r * l + Int(candidates[i])] = draws[i].token }
            chosen[r] = keep.map { candidates[$0] }
            masked[r] = candidates.indices.filter { !kept.contains($0) }.map { candidates[$0] }
          } else {
            for position in chosen[r] {
              let i = r * l + Int(position)
              x[i] = drawer.drawWithLogProbability(logits, row: i, greedy: greedy, rng: &streams[r]).token
            }
          }
        }
      }
      observe?(Step(index: index, probability: q, maskedBefore: maskedBefore, unmaskedPositions: chosen,
                    ranNetwork: unmasked > 0))
    }

    let dt = (1 - eps) / Double(steps)
    for i in 0..<steps {
      let t = 1 + Double(i) * (eps - 1) / Double(steps)  // torch.linspace(1, eps, S+1)[i]
      step(i, t: t, alphaS: LogLinearSchedule.alpha(t - dt), greedy: false)
    }
    step(steps, t: eps, alphaS: 1, greedy: options.greedyTail)
    outcome.samples = (0..<b).map { Array(x[($0 * l)..<(($0 + 1) * l)]) }
    return outcome
  }
}
