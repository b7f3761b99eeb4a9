using System.Text.Json;
using System.Text.Json.Serialization;
using Raid5Actors.Cli.Output;

namespace Raid5Actors.Cli.Control;

/// <summary>
/// The control socket's protocol: one JSON object per line each way, a request then its reply, as
/// many as the client likes on one connection. It is local (a Unix socket in the array folder, or
/// in the temporary folder when that path is too long for a socket), so the file's permissions are
/// its access control, like /dev/md* for mdadm.
/// </summary>
internal static class ControlProtocol
{
    public const string kSocketFileName = "raid5.sock";

    /// <summary>Names the socket of the process serving the folder, for clients that spell the folder differently (a symlink, another TMPDIR).</summary>
    public const string kControlFileName = "raid5.control";

    /// <summary>Connections one serving process answers at once; more are closed at once.</summary>
    public const int kMaxConnections = 16;

    /// <summary>A request or reply line longer than this is not from our CLI.</summary>
    public const int kMaxLineChars = 1 << 20;

    // sun_path is 108 bytes on Linux, 104 on macOS; keep a margin for the terminating NUL.
    private const int kMaxSocketPathBytes = 100;

    /// <summary>Reads one line of at most <see cref="kMaxLineChars"/>; null at the end of the stream; throws <see cref="IOException"/> beyond the limit.</summary>
    public static async Task<string?> ReadLineAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        var line = new System.Text.StringBuilder();
        var one = new char[1];
        while (true)
        {
            if (await reader.ReadAsync(one.AsMemory(), cancellationToken).ConfigureAwait(false) == 0)
                return line.Length == 0 ? null : line.ToString();
            if (one[0] == '\n')
                return line.ToString();
            if (line.Length == kMaxLineChars)
                throw new IOException($"a control line is longer than {kMaxLineChars} characters");
            line.Append(one[0]);
        }
    }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The folder's one spelling: absolute, without a trailing separator (shell completion adds one).</summary>
    public static string FullPath(string folder) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));

    /// <summary>The socket a client should try: the one the serving process names in the folder, else the one derived from the path.</summary>
    public static string SocketPathToTry(string folder)
    {
        try
        {
            return File.ReadAllText(Path.Combine(folder, kControlFileName)).Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return SocketPathFor(folder);
        }
    }

    /// <summary>Where the process serving <paramref name="folder"/> listens: derived from the folder alone, so a client needs nothing else.</summary>
    public static string SocketPathFor(string folder)
    {
        var full = FullPath(folder);
        var inFolder = Path.Combine(full, kSocketFileName);
        if (System.Text.Encoding.UTF8.GetByteCount(inFolder) <= kMaxSocketPathBytes)
            return inFolder;
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(full)))[..16];
        return Path.Combine(Path.GetTempPath(), $"raid5-{hash}.sock");
    }
}

internal enum ControlCommand
{
    Status,
    Fail,
    Remove,
    Add,
    Check,
    Repair,
}

internal sealed record ControlRequest(ControlCommand Command, int? Role = null, int? Device = null);

/// <param name="Outcome">What a membership change or a started sync did, in words.</param>
internal sealed record ControlReply(bool Ok, string? Error = null, string? Outcome = null, StatusDocument? Status = null);
