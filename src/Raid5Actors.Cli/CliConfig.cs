using System.Reflection;
using Akka.Configuration;

namespace Raid5Actors.Cli;

/// <summary>
/// The configuration one command runs with, highest priority first: <c>--set KEY=VALUE</c>
/// overrides, the <c>--config FILE</c> files (the last given wins), the array folder's
/// <c>raid5.conf</c> when it has one, the CLI's defaults (<c>hocon/cli.conf</c>), and the engine's
/// reference configuration (<c>hocon/reference.conf</c>).
/// </summary>
internal static class CliConfig
{
    public const string kFolderConfigFileName = "raid5.conf";

    private static readonly Lazy<Config> s_cliDefaults = new(() =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Raid5Actors.Cli.cli.conf")
            ?? throw new InvalidOperationException("the CLI's embedded cli.conf is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    });

    /// <summary>Layers the sources; throws <see cref="CliUsageException"/> for a missing file or bad HOCON.</summary>
    public static Config Load(string? folder, IReadOnlyList<string> files, IReadOnlyList<string> overrides)
    {
        var config = Config.Empty;
        foreach (var setting in overrides)
            config = config.WithFallback(ParseOverride(setting));
        foreach (var file in files.Reverse())
            config = config.WithFallback(ParseFile(file));
        if (folder is not null && File.Exists(Path.Combine(folder, kFolderConfigFileName)))
            config = config.WithFallback(ParseFile(Path.Combine(folder, kFolderConfigFileName)));
        return config.WithFallback(s_cliDefaults.Value);
    }

    private static Config ParseFile(string path)
    {
        if (!File.Exists(path))
            throw new CliUsageException($"configuration file {path} does not exist");
        try
        {
            return ConfigurationFactory.ParseString(File.ReadAllText(path));
        }
        catch (Exception e) when (e is ConfigurationException or FormatException)
        {
            throw new CliUsageException($"configuration file {path} is not valid HOCON: {e.Message}");
        }
    }

    private static Config ParseOverride(string setting)
    {
        var equals = setting.IndexOf('=');
        if (equals <= 0)
            throw new CliUsageException($"--set takes KEY=VALUE (e.g. raid5.sync.speed-max=50M), not \"{setting}\"");
        var key = setting[..equals].Trim();
        var value = setting[(equals + 1)..].Trim();
        if (!key.StartsWith("raid5.", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
            throw new CliUsageException($"--set {key}: only raid5.* and akka.* keys exist (see hocon/reference.conf and hocon/cli.conf)");
        try
        {
            return ConfigurationFactory.ParseString($"{key} = {value}");
        }
        catch (Exception e) when (e is ConfigurationException or FormatException)
        {
            throw new CliUsageException($"--set {setting} is not valid HOCON: {e.Message}");
        }
    }
}
