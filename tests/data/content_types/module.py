"""A small module: parse, check, and print records."""

import csv
import sys


def main(path, delimiter=","):
    with open(path, newline="") as file:
        for row in csv.reader(file, delimiter=delimiter):
            print(", ".join(row))


if __name__ == "__main__":
    main(sys.argv[1])
