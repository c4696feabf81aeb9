import Cluster
import Corpus
import Foundation

/// `pgm pretrain`'s steps around the training itself, for one process or every rank of a job.
extension Pretraining {
  /// Every rank must have been given the same recipe, folder and part.
  public static func requireSameCommand(_ recipe: Recipe, run: RunFolder, only: String?, world: Communicator) throws {
    try world.requireSame([try FileDigest.sha256(json: recipe), run.root.standardizedFileURL.path, only ?? ""],
                          what: "recipe, --seed, --out or --only")
  }

  /// The checks that need no data, before the folder is touched (rank 0).
  public static func prepareRun(_ recipe: Recipe, run: RunFolder, world: Communicator, log: (String) -> Void) throws {
    _ = try world.rootOnly { () -> Bool in try RunPreflight.check(recipe, run: run, needsDistill: false); return true }
  }

  /// The data phase and the checks against the data, by rank 0 (holding the lock); the other ranks
  /// open the dataset once it is there.
  public static func prepareData(_ recipe: Recipe, run: RunFolder, world: Communicator,
                                 log: @escaping (String) -> Void) throws -> TokenDataset {
    var dataset: TokenDataset?
    _ = try world.rootOnly { () -> Bool in
      try MainJob.checkRecipe(recipe, matches: run, exceptEval: true)
      let d = try DataPreparation.prepare(recipe, run: run, log: log)
      try RunPreflight.check(recipe, run: run, dataset: d)
      dataset = d
      return true
    }
    return try dataset ?? DataPreparation.open(recipe, run: run)
  }
}
