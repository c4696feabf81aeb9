import Engine
import Foundation
import Networks
@testable import Teacher

/// Tiny networks with random weights for sampler tests: fast in debug builds, and every weight
/// non-zero (adaLN and output layers included) so that no path is trivially zero.
enum TinyNetworks {
  static let bos: Int32 = 0

  /// `blocks`: encoder and decoder blocks each (partition) or blocks (MDLM). Tests that fix the
  /// logits use 1: the network's cost is all that depends on it (debug builds are slow).
  static func pgmConfig(length: Int = 16, vocab: Int = 12, mode: ModelConfig.PreQueryMode = .learnFreqs,
                        blocks: Int = 2) -> ModelConfig {
    ModelConfig(kind: .pgm, vocabSize: vocab, hiddenSize: 16, heads: 2, condDim: 8, length: length,
                encoderBlocks: blocks, decoderBlocks: blocks, preQueryMode: mode, queryProcessMode: .linear, dropout: 0)
  }

  static func mdlmConfig(length: Int = 16, vocab: Int = 12, blocks: Int = 2) -> ModelConfig {
    ModelConfig(kind: .mdlm, vocabSize: vocab, hiddenSize: 16, heads: 2, condDim: 8, length: length, blocks: blocks,
                dropout: 0)
  }

  static func partition(length: Int = 16, vocab: Int = 12, mode: ModelConfig.PreQueryMode = .learnFreqs,
                        blocks: Int = 2, seed: UInt64 = 1) -> PartitionDIT {
    let net = try! PartitionDIT(config: pgmConfig(length: length, vocab: vocab, mode: mode, blocks: blocks), seed: seed)
    randomize(net.parameters, seed: seed)
    return net
  }

  static func mdlm(length: Int = 16, vocab: Int = 12, blocks: Int = 2, seed: UInt64 = 1) -> DIT {
    let net = try! DIT(config: mdlmConfig(length: length, vocab: vocab, blocks: blocks), seed: seed)
    randomize(net.parameters, seed: seed)
    return net
  }

  /// Every parameter N(0, 0.5²), large enough that logits differ visibly between positions,
  /// except the output projection (N(0, 0.08²)), which keeps p(x0) spread over many tokens.
  static func randomize(_ parameters: ParameterSet, seed: UInt64) {
    var rng = RandomStream(seed: seed &+ 1000)
    for name in parameters.names {
      let count = parameters[name]!.count
      let std: Float = name == "output_layer.linear.weight" ? 0.08 : 0.5
      parameters.assign(name, (0..<count).map { _ in Float(rng.normal()) * std })
    }
  }

  /// Makes every position's logits equal `logits` [V]: with a zero output weight the final layer
  /// returns its bias whatever the rest of the network computes.
  static func fixLogits(_ parameters: ParameterSet, _ logits: [Float]) {
    let weight = parameters["output_layer.linear.weight"]!
    parameters.assign("output_layer.linear.weight", [Float](repeating: 0, count: weight.count))
    parameters.assign("output_layer.linear.bias", logits)
  }
}

/// Empirical frequency checks.
enum Frequencies {
  /// Counts of each id in 0..<size.
  static func counts(_ tokens: [Int32], size: Int) -> [Int] {
    var c = [Int](repeating: 0, count: size)
    for t in tokens { c[Int(t)] += 1 }
    return c
  }

  /// The largest |observed − expected| in units of the binomial standard error, over all ids.
  static func worstDeviation(counts: [Int], expected p: [Double]) -> Double {
    let n = Double(counts.reduce(0, +))
    var worst = 0.0
    for (c, pi) in zip(counts, p) {
      let se = (max(pi * (1 - pi), 1e-12) / n).squareRoot()
      if pi == 0 { if c > 0 { return .infinity } else { continue } }
      worst = max(worst, abs(Double(c) / n - pi) / se)
    }
    return worst
  }
}
