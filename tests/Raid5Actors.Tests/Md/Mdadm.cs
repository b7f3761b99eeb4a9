using System.Diagnostics;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Md;

/// <summary>
/// Runs Debian's mdadm on image files (<c>mdadm --examine</c> needs no kernel md and no root for a
/// regular file). A missing mdadm fails the spec: it is the proof that our format agrees with md's.
/// </summary>
internal static class Mdadm
{
    private const string kInstall = "mdadm is not installed: apt-get install -y mdadm (.ci/run installs it)";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>The "Key : value" lines of <c>mdadm --examine</c>, in order, with times in UTC.</summary>
    public static async Task<IReadOnlyList<(string Key, string Value)>> ExamineAsync(ITestOutputHelper output, string image)
    {
        var stdout = await RunAsync(output, "--examine", image);
        var lines = new List<(string, string)>();
        foreach (var line in stdout.Split('\n'))
        {
            var colon = line.IndexOf(" : ", StringComparison.Ordinal);
            if (colon > 0)
                lines.Add((line[..colon].Trim(), line[(colon + 3)..].TrimEnd()));
        }

        return lines;
    }

    public static async Task<string> RunAsync(ITestOutputHelper output, params string[] arguments)
    {
        var start = new ProcessStartInfo(Find())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["TZ"] = "UTC";
        output.WriteLine($"$ mdadm {string.Join(' ', arguments)}");

        using var process = Process.Start(start) ?? throw new InvalidOperationException("mdadm did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(s_timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mdadm did not finish within {s_timeout}");
        }

        output.WriteLine(await stdout);
        Assert.True(process.ExitCode == 0, $"mdadm exited with {process.ExitCode}: {await stderr}");
        return await stdout;
    }

    private static string Find()
    {
        var folders = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/sbin", "/usr/sbin"]);
        foreach (var folder in folders)
        {
            var candidate = Path.Combine(folder, "mdadm");
            if (File.Exists(candidate))
                return candidate;
        }

        Assert.Fail(kInstall);
        return "";
    }
}
