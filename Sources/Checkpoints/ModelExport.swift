import Crypto
import Formats
import Foundation
import Networks

/// What an export wrote.
public struct ExportSummary: Codable, Sendable {
  public let folder: String
  public let files: [String]
  public let config: ModelConfig
  public let parameterCount: Int
  /// Tensors in `model.safetensors`: the parameters and `rotary_emb.inv_freq`.
  public let tensorCount: Int
  public let weightsSHA256: String

  enum CodingKeys: String, CodingKey {
    case folder, files, config, parameterCount = "parameter_count", tensorCount = "tensor_count"
    case weightsSHA256 = "weights_sha256"
  }

  public var text: String {
    """
    exported a \(config.kind == .pgm ? "partition network" : "MDLM") with \(grouped(parameterCount)) parameters to \(folder)
    wrote:  \(files.joined(separator: ", "))
    model.safetensors: \(tensorCount) tensors (parameters + rotary_emb.inv_freq), SHA-256 \(weightsSHA256)
    """
  }
}

/// Writes a model folder that the public PyTorch code loads as it is:
///
/// - `model.safetensors`: the names and shapes its backbone's strict `load_state_dict` expects
///   (parameters in registration order, then the persistent buffer `rotary_emb.inv_freq`);
/// - `config.json`: the reference's Hydra configuration, nested as its yaml files are, complete
///   for its network, loss and sampler, with the token ids (`ReferenceConfig`);
/// - `provenance.json` (where the data and the run were), tokenizer files, `markov_source.json`
///   for synthetic data (`ExportContext`);
/// - `README.md`: a model card with a loading snippet that runs on a CPU.
///
/// The folder is also a model folder of this project (`ModelFolder.load`, `pgm eval --model`,
/// `pgm sample`), and `ModelImport` reads it back exactly (bitwise equal weights, equal config).
public enum ModelExport {
  /// Throws `ExportError.notExportable` when the reference code cannot load a network of `config`
  /// (e.g. an MDLM whose MLP ratio is not 4), before anything is trained or written.
  public static func check(_ config: ModelConfig) throws { try ReferenceConfig.check(config) }

  /// Exports a network in memory. `card` supplies the title, provenance and extra sections;
  /// `context` the ids, data, sampling and distillation facts and the files that travel along.
  @discardableResult
  public static func write(network: Network, to folder: URL, card: ModelCard = ModelCard(),
                           context: ExportContext = ExportContext()) throws -> ExportSummary {
    let config = network.config
    try ReferenceConfig.check(config)
    let parameters = network.parameters
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

    let weightsURL = folder.appendingPathComponent(ModelFolder.weightsFile)
    let rotary = rotaryFrequencies(headDim: config.headDim)
    let layout = parameters.shapes + [(name: ParameterNaming.rotaryBuffer, shape: [rotary.count])]
    let writer = try SafeTensorsStreamWriter(url: weightsURL, layout: layout, metadata: ["format": "pt", "producer": "pgm export"])
    for (name, tensor) in zip(parameters.names, parameters.tensors) {
      let values = tensor.toArray()
      if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw ImportError.nonFinite(file: weightsURL.path, name: name, index: bad, value: values[bad])
      }
      try writer.append(name, values)
    }
    try writer.append(ParameterNaming.rotaryBuffer, rotary)
    try writer.finish()
    var files = [ModelFolder.weightsFile, ModelFolder.configFile]

    // Files that travel with the weights; copied first so that config.json can name them.
    for source in context.tokenizerFiles {
      let destination = folder.appendingPathComponent(source.lastPathComponent)
      if source.standardizedFileURL != destination.standardizedFileURL {
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.copyItem(at: source, to: destination)
      }
    }
    let tokenizerNames = context.tokenizerFiles.map(\.lastPathComponent)
    files += tokenizerNames
    for extra in context.extraFiles {
      try AtomicFile.write(extra.contents, to: folder.appendingPathComponent(extra.name))
      files.append(extra.name)
    }
    if let provenance = context.provenance {
      try provenance.write(to: folder)
      files.append(ModelProvenance.fileName)
    }

    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let reference = try ReferenceConfig(config, context: context, parameterOrder: parameters.names, tokenizerFiles: tokenizerNames)
    try AtomicFile.write(try encoder.encode(reference), to: folder.appendingPathComponent(ModelFolder.configFile))

    let (sha256, bytes) = try digest(of: weightsURL)
    files.append("README.md")
    let facts = ModelCard.Facts(config: config, parameterCount: parameters.elementCount, parameterTensors: parameters.count,
                                weightsSHA256: sha256, weightsBytes: bytes, context: context, reference: reference, files: files)
    try AtomicFile.write(Data(card.render(facts).utf8), to: folder.appendingPathComponent("README.md"))
    return ExportSummary(folder: folder.path, files: files, config: config, parameterCount: parameters.elementCount,
                         tensorCount: layout.count, weightsSHA256: sha256)
  }

  /// Exports a model folder of this project. Without a `card.source`, the card names the folder,
  /// and the checkpoint it was imported from if `pgm import` recorded one. Without a `context`,
  /// what the folder says about itself (`ExportContext.folder`).
  @discardableResult
  public static func write(modelFolder: URL, to folder: URL, card: ModelCard = ModelCard(),
                           context: ExportContext? = nil) throws -> ExportSummary {
    let network = try ModelFolder.load(modelFolder)
    var card = card
    if card.source == nil {
      card.source = "model folder `\(modelFolder.path)`"
      let weights = try SafeTensorsFile(url: modelFolder.appendingPathComponent(ModelFolder.weightsFile))
      if let metadata = weights.metadata, metadata["producer"] == "pgm import", let origin = metadata["source"] {
        let which = ["ema": "EMA weights", "raw": "raw (state_dict) weights"][metadata["weights"] ?? ""] ?? "weights"
        card.source! += ", imported by `pgm import` from `\(origin)` (\(which))"
      }
    }
    return try write(network: network, to: folder, card: card, context: context ?? ExportContext.folder(modelFolder))
  }

  /// The reference's `Rotary.inv_freq`: 1/10000^(2j/dh), j = 0..<dh/2, rounded to float32.
  static func rotaryFrequencies(headDim: Int) -> [Float] {
    (0..<(headDim / 2)).map { Float(1 / pow(10000, Double(2 * $0) / Double(headDim))) }
  }

  /// SHA-256 (lower-case hex) and size of a file, read in 4 MiB pieces.
  static func digest(of url: URL) throws -> (String, Int) {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var hasher = SHA256()
    var total = 0
    while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty {
      hasher.update(data: chunk)
      total += chunk.count
    }
    return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), total)
  }
}
