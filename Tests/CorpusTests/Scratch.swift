// A fresh temporary folder per test, removed afterwards, and small helpers shared by the tests.
import Foundation
@testable import Corpus

final class Scratch {
  let url: URL

  init(_ label: String = #function) throws {
    let name = "pgm-corpus-\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
    url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  /// The path of a file in the folder.
  func path(_ name: String) -> String { url.appendingPathComponent(name).path }

  /// Writes a UTF-8 text file and returns its URL.
  @discardableResult
  func write(_ text: String, to name: String) throws -> URL {
    let file = url.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: file)
    return file
  }

  deinit { try? FileManager.default.removeItem(at: url) }
}

/// Writes a token dataset whose rows are given, through the module's own writer.
func writeDataset(_ path: String, length: Int, vocabularySize: Int, train: [[Int32]], validation: [[Int32]] = [],
                  kind: DatasetKind = .text) throws {
  let attributes = TokenDatasetAttributes(
    kind: kind, length: length, vocabularySize: vocabularySize, bosId: Int32(vocabularySize - 1),
    eosId: Int32(vocabularySize - 1), tokenizer: "test/\(vocabularySize)", tokenizerPath: "",
    sourceFiles: ["a.txt", "b.txt"], seed: 7, splitRule: .documents, createdBy: "CorpusTests")
  let writer = try TokenDatasetWriter(path: path, attributes: attributes, overwrite: false)
  for row in train { try writer.rows(.train).append(row: row) }
  for row in validation { try writer.rows(.validation).append(row: row) }
  try writer.finish(statistics: [:])
}
