import Checkpoints
import Engine
import Formats
import Foundation
import Networks
import TestSupport
import Testing

/// The two properties of the partition network listed in the golden README, on the golden weights.
@Suite struct PartitionPropertiesTests {
  static func load(_ folder: String) throws -> (PartitionDIT, TokenTensor, TokenTensor) {
    let dir = try Golden.url(folder)
    guard case .partition(let net) = try ModelFolder.load(dir, weights: dir.appendingPathComponent("weights.safetensors")) else {
      throw CheckpointError.invalid(folder, "not a partition network")
    }
    let cases = try SafeTensorsFile(url: dir.appendingPathComponent("cases.safetensors"))
    let x0 = try cases.read("train.x0"), groups = try cases.read("train.group_idxs")
    return (net, TokenTensor(shape: x0.shape, values: try x0.int64s().map { Int32($0) }),
            TokenTensor(shape: groups.shape, values: try groups.int64s().map { Int32($0) }))
  }

  /// Training-mode logits at group-1 positions equal inference-mode logits when the clean tokens
  /// are exactly the group-0 tokens (packed, right-padded, rows of different lengths).
  @Test(arguments: ["pgm-tiny", "pgm-tiny-mean-mlp4", "pgm-tiny-logsumexp"])
  func trainingEqualsPackedInference(_ folder: String) throws {
    let (net, x0, groups) = try Self.load(folder)
    let (b, l, v) = (x0.shape[0], x0.shape[1], net.config.vocabSize)
    let train = net.logits(Graph(recording: false), tokens: x0, groups: groups).value.toArray()
    var clean: [[Int32]] = [], cleanPos: [[Int32]] = [], queries: [[Int32]] = []
    for i in 0..<b {
      let pos0 = (0..<l).filter { groups[i, $0] == 0 }, pos1 = (0..<l).filter { groups[i, $0] == 1 }
      clean.append(pos0.map { x0[i, $0] }); cleanPos.append(pos0.map(Int32.init)); queries.append(pos1.map(Int32.init))
    }
    let lc = clean.map(\.count).max()!, lq = queries.map(\.count).max()!
    func pad(_ rows: [[Int32]], _ w: Int) -> TokenTensor {
      TokenTensor(shape: [b, w], values: rows.flatMap { $0 + [Int32](repeating: 0, count: w - $0.count) })
    }
    let packed = PackedBatch(tokens: pad(clean, lc), positions: pad(cleanPos, lc), lengths: clean.map(\.count),
                             queryPositions: pad(queries, lq))
    let infer = net.logits(Graph(recording: false), packed: packed).value.toArray()
    let scale = train.map { abs($0) }.max()!
    var worst: Float = 0
    for i in 0..<b {
      for (k, p) in queries[i].enumerated() {
        for c in 0..<v { worst = max(worst, abs(train[(i * l + Int(p)) * v + c] - infer[(i * lq + k) * v + c])) }
      }
    }
    #expect(worst / scale < 1e-5, "relative difference \(worst / scale)")
  }

  /// Changing a group-1 token never changes a group-1 prediction in training mode.
  @Test(arguments: ["pgm-tiny", "pgm-tiny-mean-mlp4", "pgm-tiny-logsumexp"])
  func groupOneTokensAreInvisibleToGroupOne(_ folder: String) throws {
    let (net, x0, groups) = try Self.load(folder)
    let (b, l, v) = (x0.shape[0], x0.shape[1], net.config.vocabSize)
    var changed = x0
    for i in 0..<b { for j in 0..<l where groups[i, j] == 1 { changed[i, j] = Int32((Int(x0[i, j]) + 7) % (v - 1)) } }
    #expect(changed != x0)
    let a = net.logits(Graph(recording: false), tokens: x0, groups: groups).value.toArray()
    let c = net.logits(Graph(recording: false), tokens: changed, groups: groups).value.toArray()
    var group1Diff: Float = 0, group0Diff: Float = 0
    for i in 0..<b {
      for j in 0..<l {
        let d = (0..<v).map { abs(a[(i * l + j) * v + $0] - c[(i * l + j) * v + $0]) }.max()!
        if groups[i, j] == 1 { group1Diff = max(group1Diff, d) } else { group0Diff = max(group0Diff, d) }
      }
    }
    #expect(group1Diff == 0, "group-1 predictions moved by \(group1Diff)")
    #expect(group0Diff > 0, "group-0 predictions must see the changed tokens")
  }
}
