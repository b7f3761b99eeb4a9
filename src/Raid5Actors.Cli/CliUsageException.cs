namespace Raid5Actors.Cli;

/// <summary>A command line that parses but cannot mean anything (a bad size, a missing config file).</summary>
internal sealed class CliUsageException(string message) : Exception(message);
