// The token dataset file: layout round trip, random batch reads, and the errors a reader must give.
import TestSupport
import Engine
import Foundation
import HDF5
import Testing
@testable import Corpus

@Suite struct TokenDatasetTests {
  /// Row r holds BOS, then r, r+1, … modulo the ordinary tokens: every row is different.
  static func row(_ r: Int, length: Int, vocabularySize: Int) -> [Int32] {
    [Int32(vocabularySize - 1)] + (1..<length).map { Int32((r + $0) % (vocabularySize - 1)) }
  }

  @Test func attributesAndRowsRoundTrip() throws {
    let scratch = try Scratch()
    let path = scratch.path("tokens.h5")
    let length = 16, vocabularySize = 50
    // More rows than one chunk (64 KiB / 64 B = 1024 rows), so appends span chunks.
    let train = (0..<2500).map { Self.row($0, length: length, vocabularySize: vocabularySize) }
    let validation = (0..<3).map { Self.row(1000 + $0, length: length, vocabularySize: vocabularySize) }
    try writeDataset(path, length: length, vocabularySize: vocabularySize, train: train, validation: validation)
    #expect(!FileManager.default.fileExists(atPath: path + ".partial"))

    let dataset = try TokenDataset(path: path, expectedLength: length)
    let a = dataset.attributes
    #expect(a.layoutVersion == 1)
    #expect(a.kind == .text)
    #expect(a.length == length)
    #expect(a.vocabularySize == vocabularySize)
    #expect(a.modelVocabularySize == vocabularySize + 1)
    #expect(a.maskId == Int32(vocabularySize))
    #expect(a.bosId == 49 && a.eosId == 49)
    #expect(a.tokenizer == "test/50")
    #expect(a.sourceFiles == ["a.txt", "b.txt"])
    #expect(a.seed == 7)
    #expect(a.splitRule == .documents)
    #expect(a.createdBy == "CorpusTests")
    #expect(dataset.rowCount(.train) == 2500)
    #expect(dataset.rowCount(.validation) == 3)
    #expect(try dataset.rows(.train, 0..<2500) == train)
    #expect(try dataset.rows(.validation, 0..<3) == validation)

    // The stored layout, as other programs see it.
    let info = try dataset.datasetInfo(.train)
    #expect(info.elementType == .int32)
    #expect(info.shape == [2500, length])
    #expect(info.chunkShape == [TokenDatasetLayout.chunkRows(length: length), length])
    let file = try H5File.open(path)
    #expect(try file.attributes.int64("layout_version") == 1)
    #expect(try file.attributes.string("kind") == "text")
    #expect(try file.attributes.int64("eos_id") == 49)
    #expect(try file.attributes.string("source_files") == "a.txt\nb.txt")
  }

  @Test func randomRowSetsReadWhatWasWritten() throws {
    let scratch = try Scratch()
    let path = scratch.path("tokens.h5")
    let length = 32, vocabularySize = 1000
    let train = (0..<3000).map { Self.row($0 * 7, length: length, vocabularySize: vocabularySize) }
    try writeDataset(path, length: length, vocabularySize: vocabularySize, train: train)
    let dataset = try TokenDataset(path: path)
    var rng = RandomStream(seed: 11)
    let permutation = rng.permutation(3000)
    // Random batches of a permutation, a batch with repeats and runs, and an empty batch.
    let batches = [Array(permutation[0..<64]), Array(permutation[64..<72]), [5, 5, 6, 7, 2999, 0, 1, 2, 1],
                   Array(100..<164), []]
    var buffer = [Int32](repeating: -7, count: 64 * length + 5)
    for batch in batches {
      try dataset.read(.train, rows: batch, into: &buffer)
      for (i, row) in batch.enumerated() {
        #expect(Array(buffer[(i * length)..<((i + 1) * length)]) == train[row])
      }
    }
    #expect(buffer.last == -7)  // past the batch, the buffer is left alone
  }

  @Test func badRequestsAreRejected() throws {
    let scratch = try Scratch()
    let path = scratch.path("tokens.h5")
    try writeDataset(path, length: 8, vocabularySize: 10, train: (0..<4).map { Self.row($0, length: 8, vocabularySize: 10) })
    let dataset = try TokenDataset(path: path)
    var small = [Int32](repeating: 0, count: 15)
    try dataset.read(.train, rows: [0, 1], into: &small)  // an array grows to fit
    #expect(small.count == 16)
    let tiny = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 15)
    defer { tiny.deallocate() }
    #expect(throws: CorpusError.bufferTooSmall(needed: 16, available: 15)) {
      try dataset.read(.train, rows: [0, 1], into: tiny)
    }
    var buffer = [Int32](repeating: 0, count: 64)
    #expect(throws: CorpusError.rowOutOfRange(path: path, split: .train, row: 4, rows: 4)) {
      try dataset.read(.train, rows: [0, 4], into: &buffer)
    }
    #expect(throws: CorpusError.rowOutOfRange(path: path, split: .validation, row: 0, rows: 0)) {
      try dataset.read(.validation, rows: [0], into: &buffer)
    }
    #expect(throws: CorpusError.outputExists(path: path)) {
      try writeDataset(path, length: 8, vocabularySize: 10, train: [])
    }
  }

  @Test func tokensOutsideTheVocabularyAreFoundWhileReading() throws {
    let scratch = try Scratch()
    let path = scratch.path("tokens.h5")
    var rows = (0..<6).map { Self.row($0, length: 8, vocabularySize: 10) }
    rows[3][5] = 10  // the mask id: not a data token
    rows[4][2] = -1
    try writeDataset(path, length: 8, vocabularySize: 10, train: rows)
    let dataset = try TokenDataset(path: path)
    var buffer = [Int32](repeating: 0, count: 64)
    try dataset.read(.train, rows: [0, 1, 2, 5], into: &buffer)  // clean rows read fine
    #expect(throws: CorpusError.tokenOutsideVocabulary(path: path, split: .train, row: 3, position: 5, token: 10,
                                                       vocabularySize: 10)) {
      try dataset.read(.train, rows: [1, 3], into: &buffer)
    }
    #expect(throws: CorpusError.tokenOutsideVocabulary(path: path, split: .train, row: 4, position: 2, token: -1,
                                                       vocabularySize: 10)) {
      try dataset.read(.train, rows: [4], into: &buffer)
    }
  }

  @Test func missingFileWrongLengthAndForeignFilesGiveClearErrors() throws {
    let scratch = try Scratch()
    let missing = scratch.path("missing.h5")
    #expect(throws: CorpusError.fileNotFound(path: missing)) { try TokenDataset(path: missing) }

    let path = scratch.path("tokens.h5")
    try writeDataset(path, length: 8, vocabularySize: 10, train: [Self.row(0, length: 8, vocabularySize: 10)])
    #expect(throws: CorpusError.lengthMismatch(path: path, stored: 8, expected: 1024)) {
      try TokenDataset(path: path, expectedLength: 1024)
    }

    // An HDF5 file of someone else's layout.
    let foreign = scratch.path("foreign.h5")
    do {
      let file = try H5File.create(foreign)
      try file.createDataset("train/tokens", of: Int32.self, shape: [2, 8]).write([Int32](repeating: 0, count: 16))
    }
    #expect(throws: CorpusError.notATokenDataset(path: foreign, reason: "no 'layout_version' attribute on the root "
                                                 + "group (written by another program?)")) {
      try TokenDataset(path: foreign)
    }

    // Not HDF5 at all.
    let text = try scratch.write("hello", to: "notes.h5").path
    let error = #expect(throws: H5Error.self) { try TokenDataset(path: text) }
    #expect(error?.kind == .notHDF5)
  }

  @Test func wrongVersionAndBrokenLayoutAreReported() throws {
    let scratch = try Scratch()
    let path = scratch.path("tokens.h5")
    try writeDataset(path, length: 8, vocabularySize: 10, train: [Self.row(0, length: 8, vocabularySize: 10)])
    do {
      let file = try H5File.open(path, mode: .readWrite)
      try file.attributes.set("layout_version", 2)
    }
    #expect(throws: CorpusError.unsupportedLayoutVersion(path: path, found: 2, supported: 1)) {
      try TokenDataset(path: path)
    }
    do {
      let file = try H5File.open(path, mode: .readWrite)
      try file.attributes.set("layout_version", 1)
      try file.attributes.set("kind", "images")
    }
    #expect(throws: CorpusError.notATokenDataset(path: path, reason: "unknown kind 'images' (expected text or synthetic)")) {
      try TokenDataset(path: path)
    }
    do {
      let file = try H5File.open(path, mode: .readWrite)
      try file.attributes.set("kind", "text")
      try file.remove("/validation/tokens")
    }
    #expect(throws: CorpusError.notATokenDataset(path: path, reason: "no dataset /validation/tokens")) {
      try TokenDataset(path: path)
    }
    do {
      let file = try H5File.open(path, mode: .readWrite)
      try file.createDataset("/validation/tokens", of: Float.self, shape: [1, 8])
    }
    #expect(throws: CorpusError.notATokenDataset(path: path, reason: "/validation/tokens holds float32, not int32")) {
      try TokenDataset(path: path)
    }
  }

  @Test func truncatedFileIsAnHDF5Error() throws {
    let scratch = try Scratch()
    let path = scratch.path("tokens.h5")
    try writeDataset(path, length: 64, vocabularySize: 300,
                     train: (0..<4000).map { Self.row($0, length: 64, vocabularySize: 300) })
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let truncated = scratch.path("truncated.h5")
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
    let error = #expect(throws: H5Error.self) {
      let dataset = try TokenDataset(path: truncated)
      var buffer = [Int32](repeating: 0, count: 64 * 4000)
      try dataset.read(.train, rows: Array(0..<4000), into: &buffer)
    }
    #expect(error?.kind == .unreadableFile)
    #expect(error?.description.contains(truncated) == true)
  }
}
