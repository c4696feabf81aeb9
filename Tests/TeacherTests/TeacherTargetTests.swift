import Engine
import MaskedDiffusion
import Foundation
import Networks
import Teacher
import Testing

func tinyPartition(vocab: Int = 9, length: Int = 12, seed: UInt64 = 1, random: Bool = true) throws -> PartitionDIT {
  let config = ModelConfig(kind: .pgm, vocabSize: vocab, hiddenSize: 16, heads: 2, condDim: 8, length: length,
                           encoderBlocks: 1, decoderBlocks: 1, dropout: 0)
  let net = try PartitionDIT(config: config, seed: seed)
  if random {
    var rng = RandomStream(seed: seed)
    for t in net.parameters.tensors { t.assign((0..<t.count).map { _ in Float(rng.normal()) * 0.3 }) }
  }
  return net
}

/// A network whose prediction is a fixed categorical: every weight zero except the output bias.
func constantPredictor(_ logits: [Float], length: Int = 16) throws -> PartitionDIT {
  let net = try tinyPartition(vocab: logits.count, length: length, random: false)
  for (name, t) in zip(net.parameters.names, net.parameters.tensors) {
    t.assign(name == "output_layer.linear.bias" ? logits : [Float](repeating: 0, count: t.count))
  }
  return net
}

@Suite struct TeacherTargetTests {
  /// With a fixed p(x0), every target is that distribution, and each teacher step reveals a masked
  /// position with probability (m_t − m_s)/m_t (the ancestral rule), drawn ∝ p.
  @Test func handCheckableTargets() throws {
    let logits: [Float] = [0, 1, 2, -1, 0.5, 3]  // mask = 5: its logit must not matter
    let net = try constantPredictor(logits)
    let mask: Int32 = 5
    let expected = MaskedLogSoftmax.logProbabilities(Tensor(shape: [1, 6], values: logits), mask: 5).toArray()
    #expect(abs(expected[0] - (0 - log(1 + exp(1) + exp(2) + exp(-1) + exp(0.5)))) < 1e-6)
    let b = 64, l = 16
    let xt = TokenTensor(shape: [b, l], values: (0..<(b * l)).map { $0 % l == 0 ? 0 : mask })
    let t = 0.5, dt = 0.125
    var settings = TeacherSettings(steps: 1, dt: dt, topK: 5)
    var rng = RandomStream(seed: 1)
    let targets = TeacherTargets.run(teacher: .partition(net), inputs: xt, times: [Double](repeating: t, count: b), settings: settings, rng: &rng)
    #expect(targets.rows == b * (l - 1))
    for r in 0..<targets.rows {
      for j in 0..<5 { #expect(abs(targets.logProbs[r * 5 + j] - expected[Int(targets.ids[r * 5 + j])]) < 1e-5) }
      #expect(targets.tailLogMass[r] == -.infinity)  // K = V − 1: exact
    }
    // Reveal rate: one step of the ancestral sampler from t to t − dt.
    settings.steps = 1
    var revealed = 0, total = 0
    var counts = [Int](repeating: 0, count: 6)
    for trial in 0..<20 {
      var r2 = RandomStream(seed: UInt64(100 + trial))
      // Re-derive the step's draws: run one step and compare the token rows before/after by
      // asking for targets on the result of the step (via the public API: two steps, k = 2).
      let out = TeacherTargetTests.oneStep(net, xt, t: t, dt: dt, rng: &r2)
      for i in 0..<b { for j in 1..<l where out[i, j] != mask { revealed += 1; counts[Int(out[i, j])] += 1 }; total += l - 1 }
    }
    let eps = 1e-3
    let p = ((1 - eps) * t - (1 - eps) * (t - dt)) / ((1 - eps) * t)
    let rate = Double(revealed) / Double(total)
    let se = (p * (1 - p) / Double(total)).squareRoot()
    #expect(abs(rate - p) < 4 * se, "reveal rate \(rate) vs \(p) ± \(se)")
    #expect(counts[5] == 0, "the mask is never drawn as a token")
    let probs = expected.prefix(5).map { exp(Double($0)) }
    for u in 0..<5 {
      let f = Double(counts[u]) / Double(revealed), sd = (probs[u] * (1 - probs[u]) / Double(revealed)).squareRoot()
      #expect(abs(f - probs[u]) < 4 * sd + 1e-9, "token \(u): \(f) vs \(probs[u])")
    }
  }

  /// One ancestral teacher step.
  static func oneStep(_ net: PartitionDIT, _ xt: TokenTensor, t: Double, dt: Double, rng: inout RandomStream) -> TokenTensor {
    TeacherTargets.ancestralStep(teacher: .partition(net), inputs: xt, times: [Double](repeating: t, count: xt.shape[0]),
                                 dt: dt, normalization: .normalized, rng: &rng).0
  }

  /// When a teacher time falls below dt every remaining mask is revealed.
  @Test func lastStepRevealsEverything() throws {
    let net = try constantPredictor([0, 1, 2, -1, 0.5, 3])
    let xt = TokenTensor(shape: [4, 16], values: (0..<64).map { $0 % 16 == 0 ? 0 : 5 })
    var rng = RandomStream(seed: 3)
    let out = TeacherTargetTests.oneStep(net, xt, t: 0.01, dt: 0.02, rng: &rng)
    #expect(!out.values.contains(5))
  }

  /// The packed teacher path (encoder on clean tokens, decoder on masked positions) gives the
  /// targets of the full training-mode pass with group = (token is mask).
  @Test(arguments: [1, 2])
  func packedEqualsFullPass(_ k: Int) throws {
    let net = try tinyPartition(vocab: 11, length: 14)
    var rng = RandomStream(seed: 5)
    let x0 = TokenTensor(shape: [6, 14], values: (0..<84).map { _ in Int32(rng.int(below: 10)) })
    let settings = TeacherSettings(steps: k, dt: 0.05, topK: 10)
    var a = RandomStream(seed: 9), b = RandomStream(seed: 9)
    let packed = TeacherTargets.generate(teacher: .partition(net), clean: x0, settings: settings, rng: &a, path: .packed)
    let full = TeacherTargets.generate(teacher: .partition(net), clean: x0, settings: settings, rng: &b, path: .full)
    #expect(packed.inputs == full.inputs)
    #expect(packed.targets.ids == full.targets.ids)
    let worst = zip(packed.targets.logProbs, full.targets.logProbs).map { abs($0 - $1) }.max() ?? 0
    #expect(worst < 1e-5, "largest log-prob difference \(worst)")
  }

  @Test func topKKeepsTheLargestAndTheTailMass() {
    let lp: [Float] = [-1, -3, -0.5, -Float.infinity, -2, -4]  // mask = 3
    let t = TeacherTargets.topK(logProbs: lp, rows: 1, vocabulary: 6, mask: 3, k: 2)
    #expect(t.ids == [2, 0])
    #expect(t.logProbs == [-0.5, -1])
    let tail = log(exp(-3.0) + exp(-2.0) + exp(-4.0))
    #expect(abs(Double(t.tailLogMass[0]) - tail) < 1e-6)
  }

  @Test func referenceSpacingMatchesThePublicFormula() {
    let s = TeacherSettings(steps: 2, dt: 0.1, spacing: .reference, topK: 4)
    let t = 0.7
    let times = s.times(from: t)
    #expect(abs(times[0] - (t + (1 - t) * (t - 0.2))) < 1e-12)
    #expect(abs(times[1] - (1 - t) * (t - 0.2)) < 1e-12)
    let even = TeacherSettings(steps: 3, dt: 0.1, topK: 4).times(from: t)
    #expect(even.enumerated().allSatisfy { abs($1 - (t - Double($0) * 0.1)) < 1e-12 })
  }

  /// `student_grid` times sit on the student's sampling grid 1 − j·k·dt and cover it evenly.
  @Test func studentGridTimesCoverTheGrid() {
    var rng = RandomStream(seed: 3)
    let step = 2 * (1 - 1e-5) / 32  // round 1 of S0 = 32, k = 2: a 16-step student
    let t = TimeDraw.grid(64, step: step, rng: &rng)
    let j = t.map { (1 - $0) / step }
    #expect(j.allSatisfy { abs($0 - $0.rounded()) < 1e-9 && $0.rounded() >= 0 && $0.rounded() <= 15 })
    var counts = [Int](repeating: 0, count: 16)
    for x in j { counts[Int(x.rounded())] += 1 }
    #expect(counts.allSatisfy { $0 == 4 })
    #expect(t.allSatisfy { $0 > step / 2 }, "never a step with nothing left to reveal")
  }

  /// Target inputs never mask the BOS (position 0) with clean_prefix 1, even at t = 1 where every
  /// other position is masked; with 0 (the public codes) the BOS is masked like any token.
  @Test func bosIsNeverMaskedInTargets() throws {
    let net = try tinyPartition(vocab: 9, length: 12)
    var rng = RandomStream(seed: 7)
    var values = [Int32](repeating: 7, count: 64 * 12)
    for i in 0..<(64 * 12) where i % 12 != 0 { values[i] = Int32(i % 7) }
    let x0 = TokenTensor(shape: [64, 12], values: values)
    var settings = TeacherSettings(steps: 2, dt: 0.05, topK: 8)
    settings.targetTimes = .studentGrid  // t = 1 on a third of the rows: everything else masked
    settings.cleanPrefix = 1
    let clean = TeacherTargets.generate(teacher: .partition(net), clean: x0, settings: settings, rng: &rng)
    #expect((0..<64).allSatisfy { clean.inputs[$0, 0] == 7 })
    let fullyMasked = (0..<64).filter { i -> Bool in
      clean.times[i] == 1 && (1..<12).allSatisfy { j -> Bool in clean.inputs[i, j] == 8 }
    }
    #expect(!fullyMasked.isEmpty)
    settings.cleanPrefix = 0
    var again = RandomStream(seed: 7)
    let published = TeacherTargets.generate(teacher: .partition(net), clean: x0, settings: settings, rng: &again)
    #expect((0..<64).contains { published.inputs[$0, 0] == 8 })
  }

  /// The confidence-ordered teacher reveals as many positions per step as the ancestral rule (the
  /// same Binomial count, so the same mean) and writes a target for every masked position of x_t.
  @Test func confidenceOrderedTeacherKeepsTheCounts() throws {
    let net = try tinyPartition(vocab: 9, length: 12)
    let rows = 256
    var masked = [Int32](repeating: 8, count: rows * 12)
    for i in stride(from: 0, to: rows * 12, by: 12) { masked[i] = 7 }
    let xt = TokenTensor(shape: [rows, 12], values: masked)
    let t = [Double](repeating: 0.9, count: rows)
    func meanRevealed(_ order: RevealOrder) -> Double {
      var rng = RandomStream(seed: 8)
      let next = TeacherTargets.ancestralStep(teacher: .partition(net), inputs: xt, times: t, dt: 0.3, normalization: .normalized,
                                              order: order, rng: &rng).0
      return Double(next.values.filter { $0 != 8 }.count - rows) / Double(rows)
    }
    // Each of the 11 masked positions is revealed with probability (m_t − m_s)/m_t = 1/3.
    let se = (11.0 / 3 * 2 / 3 / Double(rows)).squareRoot()
    #expect(abs(meanRevealed(.random) - 11.0 / 3) < 5 * se)
    #expect(abs(meanRevealed(.confidence) - 11.0 / 3) < 5 * se)
    var settings = TeacherSettings(steps: 2, dt: 0.3, topK: 8)
    settings.order = .confidence
    var rng = RandomStream(seed: 9)
    let targets = TeacherTargets.run(teacher: .partition(net), inputs: xt, times: t, settings: settings, rng: &rng)
    #expect(targets.rows == rows * 11)
  }
}
