print("pgm")
