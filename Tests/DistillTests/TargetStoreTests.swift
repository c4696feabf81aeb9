import Distill
import Engine
import MaskedDiffusion
import Foundation
import HDF5
import Teacher
import Testing

func scratchDirectory(_ name: String) -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("pgm-distill-\(name)-\(UUID().uuidString)")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// A deterministic fake target batch: rows of L tokens with some masked, K entries per masked position.
func fakeBatch(_ index: Int, rows: Int, length: Int = 10, vocab: Int = 12, k: Int = 4) -> TargetBatch {
  var rng = RandomStream(seed: UInt64(index + 1))
  let mask = Int32(vocab - 1)
  var tokens: [Int32] = []
  for _ in 0..<(rows * length) { tokens.append(rng.uniformDouble() < 0.4 ? mask : Int32(rng.int(below: vocab - 1))) }
  let m = tokens.filter { $0 == mask }.count
  let ids = (0..<(m * k)).map { _ in Int32(rng.int(below: vocab - 1)) }
  let lp = (0..<(m * k)).map { _ in -Float(rng.uniformDouble()) * 3 }
  let tails = (0..<m).map { _ in -Float(rng.uniformDouble()) * 5 - 1 }
  return TargetBatch(inputs: TokenTensor(shape: [rows, length], values: tokens), times: (0..<rows).map { _ in rng.uniformDouble() },
                     targets: SparseDistributions(rows: m, k: k, ids: ids, logProbs: lp, tailLogMass: tails))
}

func header(sha: String = "ab12", vocab: Int = 12, rows: Int = 40, batch: Int = 8) -> TargetStore.Header {
  TargetStore.Header(round: 1, dt: 0.125, k: 2, spacing: .even, topK: 4, vocabSize: vocab, maskId: vocab - 1, length: 10,
                     seed: 7, teacherSHA256: sha, leaky: false, timeEpsilon: 1e-5, rowsPlanned: rows, batchRows: batch,
                     entryChunk: 16)
}

@Suite struct TargetStoreTests {
  /// Everything written comes back, row by row, in any order, and h5dump sees the documented layout.
  @Test func roundTripAndLayout() throws {
    let dir = scratchDirectory("store")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("targets.h5").path
    let batches = (0..<5).map { fakeBatch($0, rows: 8) }
    let writer = try TargetWriter(path: path, header: header())
    for (i, b) in batches.enumerated() { try writer.append(b, final: i == 4) }
    try writer.close()
    let reader = try TargetReader(path: path, expected: header())
    #expect(reader.rowCount == 40)
    for (i, b) in batches.enumerated() {
      let back = try reader.batch(rows: Array((i * 8)..<(i * 8 + 8)))
      #expect(back.inputs == b.inputs)
      #expect(back.times == b.times)
      #expect(back.targets.ids == b.targets.ids && back.targets.logProbs == b.targets.logProbs)
      #expect(back.targets.tailLogMass == b.targets.tailLogMass)
    }
    // Rows in another order carry their own entries.
    let mixed = try reader.batch(rows: [17, 3])
    let a = try reader.batch(rows: [17]), c = try reader.batch(rows: [3])
    #expect(mixed.targets.ids == a.targets.ids + c.targets.ids)
    // The layout, as a tool sees it.
    let file = try H5File.open(path)
    for name in ["rows/inputs", "rows/times", "rows/entry_start", "rows/entry_count", "entries/ids", "entries/log_probs",
                 "entries/tail_log_mass"] { #expect(try file.contains(name), "\(name)") }
    #expect(try file.attributes.string("teacher_sha256") == "ab12")
    #expect(try file.attributes.int64("layout_version") == 1)
    #expect(try file.openDataset("rows/inputs", of: Int32.self).isFiltered)
  }

  /// Closing after two batches and reopening continues exactly where the first writer stopped; a
  /// crash between the two commits of a batch (entries committed, rows not) is repaired on reopen.
  @Test func incrementalResume() throws {
    let dir = scratchDirectory("resume")
    defer { try? FileManager.default.removeItem(at: dir) }
    let straight = dir.appendingPathComponent("straight.h5").path, resumed = dir.appendingPathComponent("resumed.h5").path
    let batches = (0..<5).map { fakeBatch($0, rows: 8) }
    let w = try TargetWriter(path: straight, header: header())
    for (i, b) in batches.enumerated() { try w.append(b, final: i == 4) }
    try w.close()

    var w2: TargetWriter? = try TargetWriter(path: resumed, header: header())
    try w2!.append(batches[0], final: false)
    try w2!.append(batches[1], final: false)
    try w2!.close()
    w2 = nil
    // Simulate a kill after batch 2's entries were committed but before its rows were.
    do {
      let file = try H5File.open(resumed, mode: .readWrite)
      let entries = try H5ResumableWriter(file: file, group: "entries")
      let ids = try entries.dataset("ids", of: Int32.self, rowShape: [4], chunkRows: 16, compression: .deflate(level: 4, shuffle: true))
      let lp = try entries.dataset("log_probs", of: Float.self, rowShape: [4], chunkRows: 16, compression: .deflate(level: 4, shuffle: true))
      let tails = try entries.dataset("tail_log_mass", of: Float.self, rowShape: [], chunkRows: 16, compression: .deflate(level: 4, shuffle: true))
      _ = try ids.append([Int32](repeating: 3, count: 16 * 4))
      _ = try lp.append([Float](repeating: -1, count: 16 * 4))
      _ = try tails.append([Float](repeating: -2, count: 16))
      try entries.commit(final: false)
      try file.close()
    }
    let w3 = try TargetWriter(path: resumed, header: header())
    #expect(w3.committedRows == 16)
    for i in 2..<5 { try w3.append(batches[i], final: i == 4) }
    try w3.close()
    let a = try TargetReader(path: straight), b = try TargetReader(path: resumed)
    #expect(a.rowCount == b.rowCount)
    let all = Array(0..<40)
    let x = try a.batch(rows: all), y = try b.batch(rows: all)
    #expect(x.inputs == y.inputs && x.times == y.times && x.targets.ids == y.targets.ids && x.targets.logProbs == y.targets.logProbs)
  }

  @Test func anotherTeachersFileIsRefused() throws {
    let dir = scratchDirectory("mismatch")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("targets.h5").path
    let w = try TargetWriter(path: path, header: header())
    try w.append(fakeBatch(0, rows: 8), final: false)
    try w.close()
    #expect { _ = try TargetWriter(path: path, header: header(sha: "ffff")) } throws: { "\($0)".contains("teacher weights differ") }
    #expect { _ = try TargetReader(path: path, expected: header(vocab: 13)) } throws: { "\($0)".contains("vocabulary") }
    #expect { _ = try TargetReader(path: path, expected: header(rows: 80)) } throws: { "\($0)".contains("settings differ") }
    var grid = header()
    grid.times = .studentGrid
    #expect { _ = try TargetReader(path: path, expected: grid) } throws: { "\($0)".contains("settings differ") }
  }

  @Test func truncatedOrForeignFilesEndInAClearError() throws {
    let dir = scratchDirectory("truncated")
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("targets.h5").path
    let w = try TargetWriter(path: path, header: header())
    for i in 0..<3 { try w.append(fakeBatch(i, rows: 8), final: false) }
    try w.close()
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let cut = dir.appendingPathComponent("cut.h5").path
    try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: cut))
    #expect(throws: (any Error).self) { _ = try TargetReader(path: cut).batch(rows: [0, 1, 2]) }
    let garbage = dir.appendingPathComponent("garbage.h5").path
    try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: garbage))
    #expect(throws: (any Error).self) { _ = try TargetReader(path: garbage) }
    #expect { _ = try TargetReader(path: dir.appendingPathComponent("missing.h5").path) } throws: { "\($0)".contains("not found") }
  }
}
