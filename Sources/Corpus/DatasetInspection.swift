import Engine
import Foundation
import Tokenizers

/// A human-readable report of a token dataset: what `pgm data inspect` prints.
public enum DatasetInspection {
  /// The layout, root attributes, per-split facts, a few rows (decoded with the dataset's
  /// tokenizer when it can be loaded) and, for synthetic data, the source and the scores of the
  /// validation rows (which are the source's own samples: forbidden rate 0, NLL near the source's).
  public static func describe(path: String, rows shown: Int = 3) throws -> String {
    let dataset = try TokenDataset(path: path)
    let a = dataset.attributes
    var lines: [String] = []
    lines.append("\(path): token dataset, layout version \(a.layoutVersion), kind \(a.kind.rawValue)")
    lines.append("  length L = \(a.length); vocab_size = \(a.vocabularySize) (model vocabulary \(a.modelVocabularySize), "
                   + "mask id \(a.maskId)); bos_id = \(a.bosId); eos_id = \(a.eosId.map(String.init) ?? "-1 (none)")")
    lines.append("  tokenizer: \(a.tokenizer)\(a.tokenizerPath.isEmpty ? "" : " at \(a.tokenizerPath)")")
    lines.append("  seed \(a.seed); split rule \(a.splitRule.rawValue); created by \(a.createdBy)")
    if !a.sourceFiles.isEmpty {
      let names = a.sourceFiles.map { URL(fileURLWithPath: $0).lastPathComponent }
      let listed = names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", … (\(names.count) files)" : "")
      lines.append("  source files: \(listed)")
    }
    for split in DatasetSplit.allCases {
      let info = try dataset.datasetInfo(split)
      let stats = try dataset.statistics(split)
      let chunk = info.chunkShape.map { "chunks \($0)" } ?? "contiguous"
      lines.append("  \(split.tokensPath): \(info.typeName) \(info.shape), \(chunk); \(stats.documents) documents, "
                     + "\(stats.tokens) stream tokens, \(stats.droppedTokens) dropped")
    }
    let validationFiles = try dataset.validationFiles()
    if !validationFiles.isEmpty {
      lines.append("  validation documents: "
                     + validationFiles.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", "))
    }

    var decode: (([Int32]) -> String)?
    if a.kind == .text, let url = dataset.tokenizerURL {
      if let tokenizer = try? TokenizerLoader.load(url) {
        decode = { tokenizer.decode($0) }
      } else {
        lines.append("  (the tokenizer at \(url.path) cannot be read; rows are shown as ids)")
      }
    }
    if a.kind == .synthetic {
      let source = try dataset.markovSource()
      lines.append("  source: order \(source.order), V = \(source.symbols), B = \(source.branching), floor "
                     + String(format: "%.2f", source.floor) + "; entropy rate "
                     + String(format: "%.4f", source.entropyRate) + " nats/symbol; expected NLL "
                     + String(format: "%.4f", source.expectedNLL()) + "; sample entropy "
                     + String(format: "%.4f", source.sampleEntropy) + "; uniform forbidden rate "
                     + String(format: "%.4f", 1 - Double(source.branching) / Double(source.symbols)))
      func scores(_ m: SampleMetrics) -> String {
        String(format: "NLL %.4f ± %.4f, forbidden %.4f ± %.4f, TV %.4f, entropy %.4f ± %.4f", m.nll, m.nllSE,
               m.forbiddenRate, m.forbiddenRateSE, m.bigramTV, m.entropy, m.entropySE)
      }
      let count = min(256, dataset.rowCount(.validation))
      if count > 0 {
        let m = try source.metrics(try dataset.rows(.validation, 0..<count))
        lines.append("  the first \(count) validation rows score: " + scores(m))
      }
      // The worst sensible baseline: symbols drawn uniformly (fixed seed, 256 rows).
      var rng = RandomStream(seed: source.seed).derive("uniform baseline")
      let uniform = (0..<256).map { _ in [source.bos] + (1..<a.length).map { _ in Int32(rng.int(below: source.symbols)) } }
      lines.append("  256 uniformly random rows score: " + scores(try source.metrics(uniform)))
    }
    for split in DatasetSplit.allCases {
      let count = min(shown, dataset.rowCount(split))
      guard count > 0 else { continue }
      for (index, row) in try dataset.rows(split, 0..<count).enumerated() {
        let text: String
        if let decode {
          let decoded = visible(decode(row))
          text = decoded.count > 240 ? String(decoded.prefix(240)) + "…" : decoded
        } else {
          let ids = row.prefix(48).map { $0 == a.bosId ? "<bos>" : String($0) }.joined(separator: " ")
          text = ids + (row.count > 48 ? " …" : "")
        }
        lines.append("  \(split.rawValue)[\(index)]: \(text)")
      }
    }
    return lines.joined(separator: "\n")
  }

  /// The text on one line: newlines, tabs and other control characters are shown escaped.
  static func visible(_ text: String) -> String {
    var output = ""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\n": output += "\\n"
      case "\t": output += "\\t"
      case "\r": output += "\\r"
      default:
        if scalar.properties.generalCategory == .control {
          output += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
          output.unicodeScalars.append(scalar)
        }
      }
    }
    return output
  }
}
