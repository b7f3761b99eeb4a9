namespace Raid5Actors.Cli;

/// <summary>The process exit codes, for scripts.</summary>
internal static class ExitCodes
{
    public const int kOk = 0;

    /// <summary>The command ran and failed: the message says why (a refused operation, an I/O error, a bad member).</summary>
    public const int kFailed = 1;

    /// <summary>The command line itself is wrong: unknown command or option, missing or malformed argument.</summary>
    public const int kUsage = 2;

    /// <summary>Interrupted (Ctrl-C, SIGTERM) before the work finished: a recovery or resync resumes from its checkpoint, a check or repair starts over.</summary>
    public const int kInterrupted = 130;
}
