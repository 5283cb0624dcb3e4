"""Reports: tables and plots over run directories, the HTML page, the console summary, annotation."""
