import Engine
import Foundation
import Networks

/// Training-mode logits of a network on a fixed small batch (groups alternate for the partition
/// network), to show that an imported folder loads and computes what its weights say.
func referenceBatchLogits(_ network: Network) -> [Float] {
  let config = network.config
  let b = 2, l = min(config.length, 7)
  let tokens = TokenTensor(shape: [b, l], values: (0..<(b * l)).map { Int32(($0 * 7 + 3) % config.vocabSize) })
  let g = Graph(recording: false)
  switch network {
  case .partition(let pgm):
    let groups = TokenTensor(shape: [b, l], values: (0..<(b * l)).map { Int32(($0 / 2) % 2) })
    return pgm.logits(g, tokens: tokens, groups: groups).value.toArray()
  case .mdlm(let dit), .autoregressive(let dit):
    return dit.logits(g, tokens: tokens).value.toArray()
  }
}

/// A network of `config` holding exactly `values` (name → float32 values).
func network(_ config: ModelConfig, values: [String: [Float]]) throws -> Network {
  let network = try Network(config, seed: 99)
  for name in network.parameters.names { network.parameters.assign(name, values[name]!) }
  return network
}

/// A JSON file from a literal.
func writeJSON(_ object: Any, to url: URL) throws {
  try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
}
