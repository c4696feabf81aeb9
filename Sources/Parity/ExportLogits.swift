import Checkpoints
import Engine
import Formats
import Foundation
import Networks

/// A fixed batch of inputs and this implementation's logits for a model folder, written in the
/// layout of the golden `cases.safetensors` (int64 tokens, float32 logits), so that a script can
/// run the same inputs through the reference code and compare (`scripts/check-export-with-reference`,
/// through the hidden command `pgm export-logits`).
///
/// Entries: `train.x0` [B, L]; partition: `train.group_idxs` [B, L] (both groups non-empty in
/// every row: an empty group leaves queries with no key, NaN in the reference), `infer.x`,
/// `infer.clean_positions` [B, Lc] (right-padded with token 0 at position 0), `infer.concrete_lengths`
/// [B], `infer.noisy_positions` [B, Lq], `infer.logits` [B, Lq, V]; MDLM: `train.xt` [B, L] (about
/// half the positions masked); both: `train.sigma` [B] (zeros) and `train.logits` [B, L, V], the
/// raw network output.
public enum ExportLogits {
  public struct Summary: Codable {
    public var folder: String
    public var output: String
    public var kind: String
    public var batch: Int
    public var entries: [String]
  }

  public static func write(modelFolder: URL, to output: URL, batch: Int = 3, seed: UInt64 = 0,
                           precision: MatrixPrecision = .float32) throws -> Summary {
    let network = try ModelFolder.load(modelFolder)
    let config = network.config
    let b = batch, l = config.length
    precondition(b >= 1 && l >= 2)
    var rng = RandomStream(seed: seed).derive("export logits")
    let x0 = TokenTensor(shape: [b, l], values: (0..<(b * l)).map { _ in Int32(rng.int(below: config.maskIndex)) })
    var tensors: [(name: String, tensor: TensorData)] = []
    func tokens(_ name: String, _ t: TokenTensor) throws {
      tensors.append((name, try TensorData(int64s: t.values.map(Int64.init), shape: t.shape)))
    }
    func floats(_ name: String, _ v: Var) throws {
      tensors.append((name, try TensorData(floats: v.value.toArray(), shape: v.value.shape)))
    }
    try tokens("train.x0", x0)
    tensors.append(("train.sigma", try TensorData(floats: [Float](repeating: 0, count: b), shape: [b])))
    let g = Graph(recording: false, precision: precision)
    switch network {
    case .partition(let pgm):
      var groups = (0..<(b * l)).map { _ in Int32(rng.int(below: 2)) }
      for row in 0..<b {
        let slice = groups[(row * l)..<((row + 1) * l)]
        if !slice.contains(0) { groups[row * l + rng.int(below: l)] = 0 }
        if !groups[(row * l)..<((row + 1) * l)].contains(1) { groups[row * l + rng.int(below: l)] = 1 }
      }
      let groupTensor = TokenTensor(shape: [b, l], values: groups)
      try tokens("train.group_idxs", groupTensor)
      try floats("train.logits", pgm.logits(g, tokens: x0, groups: groupTensor))

      // Inference mode: ragged clean sets (at least one token each), one query count for all rows.
      let counts = (0..<b).map { _ in 1 + rng.int(below: max(1, l / 2)) }
      let width = counts.max()!, queries = max(1, l - width)
      var packedTokens = [Int32](repeating: 0, count: b * width), positions = [Int32](repeating: 0, count: b * width)
      var queryPositions: [Int32] = []
      for row in 0..<b {
        let order = rng.permutation(l)
        let clean = order.prefix(counts[row]).sorted()
        for (j, p) in clean.enumerated() {
          positions[row * width + j] = Int32(p)
          packedTokens[row * width + j] = x0.values[row * l + p]
        }
        queryPositions += order.dropFirst(counts[row]).prefix(queries).sorted().map(Int32.init)
      }
      let packed = PackedBatch(tokens: TokenTensor(shape: [b, width], values: packedTokens),
                               positions: TokenTensor(shape: [b, width], values: positions), lengths: counts,
                               queryPositions: TokenTensor(shape: [b, queries], values: queryPositions))
      try tokens("infer.x", packed.tokens)
      try tokens("infer.clean_positions", packed.positions)
      tensors.append(("infer.concrete_lengths", try TensorData(int64s: counts.map(Int64.init), shape: [b])))
      try tokens("infer.noisy_positions", packed.queryPositions)
      try floats("infer.logits", pgm.logits(Graph(recording: false, precision: precision), packed: packed))
    case .mdlm(let dit):
      let xt = TokenTensor(shape: [b, l], values: x0.values.map { rng.uniformDouble() < 0.5 ? Int32(config.maskIndex) : $0 })
      try tokens("train.xt", xt)
      try floats("train.logits", dit.logits(g, tokens: xt))
    case .autoregressive:
      throw CheckpointError.invalid(modelFolder.path, "an autoregressive network has no reference counterpart")
    }
    try FileManager.default.createDirectory(at: output.deletingLastPathComponent(), withIntermediateDirectories: true)
    try SafeTensors.write(tensors, metadata: ["producer": "pgm export-logits", "precision": precision.rawValue], to: output)
    return Summary(folder: modelFolder.path, output: output.path, kind: config.kind.rawValue, batch: b,
                   entries: tensors.map(\.name))
  }
}
