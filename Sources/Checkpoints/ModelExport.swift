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

/// Writes a model folder that the public PyTorch code loads: `model.safetensors` with the names
/// and shapes its backbone's `load_state_dict` expects (parameters in registration order, then the
/// persistent buffer `rotary_emb.inv_freq`), `config.json` with this project's fields plus
/// `reference_config` (the reference's Hydra structure) and `parameter_order`, and a `README.md`
/// model card. The folder is also a model folder of this project, and `ModelImport` reads it back
/// exactly (bitwise equal weights, equal config).
public enum ModelExport {
  /// Exports a network in memory. `card` supplies the title, provenance and extra sections.
  @discardableResult
  public static func write(network: Network, to folder: URL, card: ModelCard = ModelCard()) throws -> ExportSummary {
    let config = network.config
    let reference = try ReferenceConfig(config)
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

    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let configJSON = try encoder.encode(ExportedConfig(config: config, reference: reference, parameterOrder: parameters.names))
    try AtomicFile.write(configJSON, to: folder.appendingPathComponent(ModelFolder.configFile))

    let (sha256, bytes) = try digest(of: weightsURL)
    let facts = ModelCard.Facts(config: config, parameterCount: parameters.elementCount, parameterTensors: parameters.count,
                                weightsSHA256: sha256, weightsBytes: bytes)
    try AtomicFile.write(Data(card.render(facts).utf8), to: folder.appendingPathComponent("README.md"))
    return ExportSummary(folder: folder.path, files: [ModelFolder.weightsFile, ModelFolder.configFile, "README.md"],
                         config: config, parameterCount: parameters.elementCount, tensorCount: layout.count,
                         weightsSHA256: sha256)
  }

  /// Exports a model folder of this project. Without a `card.source`, the card names the folder,
  /// and the checkpoint it was imported from if `pgm import` recorded one.
  @discardableResult
  public static func write(modelFolder: URL, to folder: URL, card: ModelCard = ModelCard()) throws -> ExportSummary {
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
    return try write(network: network, to: folder, card: card)
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

/// `config.json` of an exported folder: this project's fields (so `ModelFolder` reads it), the
/// reference's Hydra structure, and the parameter registration order (which maps an EMA list, a
/// bare list in the reference, to names).
struct ExportedConfig: Encodable {
  let config: ModelConfig
  let reference: ReferenceConfig
  let parameterOrder: [String]

  enum Keys: String, CodingKey { case reference = "reference_config", parameterOrder = "parameter_order" }

  func encode(to encoder: Encoder) throws {
    try config.encode(to: encoder)
    var c = encoder.container(keyedBy: Keys.self)
    try c.encode(reference, forKey: .reference)
    try c.encode(parameterOrder, forKey: .parameterOrder)
  }
}
