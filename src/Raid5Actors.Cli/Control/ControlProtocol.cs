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

    /// <summary>A request or reply line longer than this is not from our CLI.</summary>
    public const int kMaxLineChars = 1 << 20;

    // sun_path is 108 bytes on Linux, 104 on macOS; keep a margin for the terminating NUL.
    private const int kMaxSocketPathBytes = 100;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>The folder's one spelling: absolute, without a trailing separator (shell completion adds one).</summary>
    public static string FullPath(string folder) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));

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
